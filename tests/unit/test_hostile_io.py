"""Hostile input files: run directories, weights with bad values / dtypes, bad arch specs, special files.

Each test pins one finding of the hostile-input probe (F1–F6, F14) to its one-line ``UserError`` /
``CorruptCheckpointError``, and checks the valid neighbour of the bad case still works.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from gancompress.errors import CorruptCheckpointError, UserError
from gancompress.io import (
    MAX_JSON_BYTES,
    import_state_dict,
    load_module,
    load_state_dict_checked,
    read_json,
    save_module,
    write_json,
)
from gancompress.models import MAX_PARAMS, MODELS, create_model, create_model_from_spec
from gancompress.pruning import MaskSet
from gancompress.rundir import RunDir

SPEC = {"nz": 16, "ngf": 8, "channels": 1, "image_size": 32}


def tiny() -> nn.Module:
    return create_model("dcgan_generator", **SPEC)


# ------------------------------------------------------------------------------------------ F1: run directories
def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "important.txt").write_text("keep")
    (precious / "config.json").write_text('{"user": "own config"}')  # a generic name alone is not a run
    with pytest.raises(UserError, match=r"is not a gancompress run.*will not delete it; choose another --out"):
        RunDir(precious, overwrite=True)
    assert (precious / "important.txt").read_text() == "keep" and (precious / "sub").is_dir()


@pytest.mark.parametrize(
    "marker", ["checkpoints", "cells", "config.json", "env.json", "results.json", "generator.json"]
)
def test_overwrite_replaces_a_real_run(tmp_path: Path, marker: str) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text("old\n")
    if marker in ("checkpoints", "cells"):
        (out / marker / "x").mkdir(parents=True)
    elif marker == "generator.json":
        save_module(tiny(), out, "generator")
    else:
        content = {"config.json": {"model": {}, "train": {}}, "env.json": {"gancompress": "0"}}
        write_json(out / marker, content.get(marker, {"timing": {}}))
    run = RunDir(out, overwrite=True)
    assert run.path.is_dir() and list(run.path.iterdir()) == []


def test_overwrite_through_a_symlink_clears_the_target(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "checkpoints").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    RunDir(link, overwrite=True)
    assert link.is_symlink() and list(real.iterdir()) == []


def test_out_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "out.txt"
    f.write_text("x")
    for kwargs in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(UserError, match=r"--out .*out\.txt is a file, not a directory"):
            RunDir(f, **kwargs)
    assert f.read_text() == "x"


# ---------------------------------------------------------------------------------------- F2: non-finite values
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused(tmp_path: Path, bad: float) -> None:
    state = tiny().state_dict()
    state["net.0.weight"].view(-1)[:3] = bad
    path = tmp_path / "nan.safetensors"
    save_file(state, str(path))
    with pytest.raises(UserError, match=r"nan\.safetensors: tensor 'net\.0\.weight' has 3 NaN/Inf values"):
        load_state_dict_checked(tiny(), import_state_dict(path), path)


def test_negative_running_var_is_refused() -> None:
    state = tiny().state_dict()
    state["net.1.running_var"][0] = -1.0
    with pytest.raises(UserError, match=r"'net\.1\.running_var' \(a BatchNorm running variance\) has negative"):
        load_state_dict_checked(tiny(), state, "w.pt")


# ---------------------------------------------------------------------------------------------- F3: dtypes, masks
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8])
def test_integer_weights_are_refused(dtype: torch.dtype) -> None:
    state = tiny().state_dict()
    state["net.0.weight"] = state["net.0.weight"].to(dtype)
    with pytest.raises(UserError, match=rf"'net\.0\.weight' is {str(dtype)[6:]} in the file but float32 in the model"):
        load_state_dict_checked(tiny(), state, "w.pt")


def test_float_counter_is_refused() -> None:
    state = tiny().state_dict()
    state["net.1.num_batches_tracked"] = torch.tensor(3.5)
    with pytest.raises(UserError, match=r"'net\.1\.num_batches_tracked' is float32 .* must be an integer tensor"):
        load_state_dict_checked(tiny(), state, "w.pt")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_floating_weights_of_another_precision_load(tmp_path: Path, dtype: torch.dtype) -> None:
    src = tiny()
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in src.state_dict().items()}
    path = tmp_path / "half.pt"
    torch.save(state, path)
    dst = tiny()
    load_state_dict_checked(dst, import_state_dict(path), path)
    assert dst.net[0].weight.dtype == torch.float32
    assert torch.allclose(dst.net[0].weight, src.net[0].weight.to(dtype).float())


def test_mask_with_values_other_than_0_1_is_refused() -> None:
    g = tiny()
    MaskSet.attach(g, granularity="element").update(0.5)
    state = g.state_dict()
    assert "net.0.weight_mask" in state
    fresh = tiny()
    load_state_dict_checked(fresh, state, "ok.safetensors")  # a real 0/1 mask loads
    state["net.0.weight_mask"].view(-1)[0] = 0.5
    with pytest.raises(UserError, match=r"pruning mask 'net\.0\.weight_mask' has values other than 0 and 1"):
        load_state_dict_checked(tiny(), state, "w.safetensors")


# ------------------------------------------------------------------------------------------- F4: arch specs
@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ({"arch": "dcgan_generator", "kwargs": [1, 2]}, "'kwargs' must be an object"),
        ({"arch": "dcgan_generator", "kwargs": "ngf=8"}, "'kwargs' must be an object"),
        ({"arch": ["dcgan_generator"], "kwargs": {}}, "'arch' must be a string"),
        ({"kwargs": {}}, "needs an 'arch' entry|with an 'arch' entry"),
        ([1, 2], "with an 'arch' entry"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": "8"}}, "ngf must be a whole number, got str"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": 8.5}}, "ngf must be a whole number, got float"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": True}}, "ngf must be a whole number, got bool"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": None}}, "ngf must be a whole number, got NoneType"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": float("nan")}}, "ngf must be a whole number"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": -8}}, "ngf must be between 1 and"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": 0}}, "ngf must be between 1 and"),
        ({"arch": "dcgan_generator", "kwargs": {"bogus": 1}}, "unknown argument 'bogus' for dcgan_generator"),
        ({"arch": "resnet_generator", "kwargs": {"n_blocks": -1}}, "n_blocks must be between 0 and"),
        ({"arch": "unet_generator", "kwargs": {"dropout": "x"}}, "cannot build unet_generator from"),
        ({"arch": "nope", "kwargs": {}}, "unknown model architecture 'nope'"),
    ],
)
def test_bad_arch_spec_is_a_user_error(spec: object, phrase: str) -> None:
    with pytest.raises(UserError, match=phrase):
        create_model_from_spec(spec, "g.json")


def test_bad_arch_spec_through_load_module(tmp_path: Path) -> None:
    save_module(tiny(), tmp_path, "generator")
    meta = json.loads((tmp_path / "generator.json").read_text())
    meta["kwargs"] = ["ngf", 8]
    (tmp_path / "generator.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"generator\.json: 'kwargs' must be an object"):
        load_module(tmp_path, "generator")


def test_integral_float_width_and_valid_specs_build() -> None:
    g = create_model("dcgan_generator", **{**SPEC, "ngf": 8.0})  # JSON 8e0
    assert g.arch_spec == {"arch": "dcgan_generator", "kwargs": SPEC}
    assert isinstance(g.arch_spec["kwargs"]["ngf"], int)
    assert create_model("resnet_generator", channels=1, ngf=4, n_blocks=0).arch_spec["kwargs"]["n_blocks"] == 0
    g2 = create_model_from_spec({"arch": "dcgan_generator", "kwargs": SPEC}, "g.json")
    assert g2.arch_spec == tiny().arch_spec == {"arch": "dcgan_generator", "kwargs": SPEC}
    assert g2(torch.randn(2, 16)).shape == (2, 1, 32, 32)


def test_deeply_nested_json_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(CorruptCheckpointError, match="nested too deeply"):
        read_json(path)


# ------------------------------------------------------------------------------------------ F5: huge widths
def test_huge_width_is_refused_before_allocating() -> None:
    with pytest.raises(UserError, match=r"dcgan_generator .* would have [\d,]+ parameters .*check the widths"):
        create_model("dcgan_generator", nz=16, ngf=60_000, channels=1, image_size=32)  # ~5.8e11 elements
    with pytest.raises(UserError, match="ngf must be between 1 and"):
        create_model("dcgan_generator", ngf=1e9)


def test_every_registered_architecture_still_builds_and_is_reproducible() -> None:
    for name in MODELS.names():
        torch.manual_seed(0)
        built = create_model(name)
        torch.manual_seed(0)
        direct = MODELS.get(name)()  # the meta dry build must not consume the RNG
        a, b = built.state_dict(), direct.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
        assert built.arch_spec == {"arch": name, "kwargs": {}}
        assert sum(p.numel() for p in built.parameters()) < MAX_PARAMS


def test_meta_build_works_with_weight_parametrizations() -> None:
    with torch.device("meta"):
        layers = [
            nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 8, 3)),
            nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 8, 3)),
        ]
    assert all(p.is_meta for m in layers for p in m.parameters())


# ------------------------------------------------------------------------------------------ F6: special files
def test_read_json_refuses_a_device(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    link = tmp_path / "generator.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(UserError, match="not a regular file"):
        read_json(link)
    weights = tmp_path / "w.pt"
    weights.symlink_to("/dev/zero")
    with pytest.raises(UserError, match="not a regular file"):
        import_state_dict(weights)


def test_read_json_refuses_a_directory_and_a_huge_file(tmp_path: Path) -> None:
    (tmp_path / "spec.json").mkdir()
    with pytest.raises(UserError, match=r"spec\.json is a directory, not a file"):
        read_json(tmp_path / "spec.json")
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:  # sparse: no disk used
        fh.truncate(MAX_JSON_BYTES + 1)
    with pytest.raises(UserError, match=r"big\.json is \d+ MB, too large for a JSON spec"):
        read_json(big)
    with pytest.raises(UserError, match="file not found"):
        read_json(tmp_path / "absent.json")


# ---------------------------------------------------------------------------------------------- F14: .pt messages
def test_text_file_named_pt_says_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "text.pt"
    path.write_text("hello world\n" * 10)
    with pytest.raises(CorruptCheckpointError, match=r"text\.pt: not a readable PyTorch state_dict file") as info:
        import_state_dict(path)
    assert not str(info.value).endswith(": 101")


def test_truncated_pt_says_what_it_is(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save(tiny().state_dict(), good)
    data = good.read_bytes()
    bad = tmp_path / "bad.pt"
    for n in (0, 40, len(data) // 2, len(data) - 20):
        bad.write_bytes(data[:n])
        with pytest.raises(CorruptCheckpointError, match=r"bad\.pt: not a readable PyTorch state_dict file"):
            import_state_dict(bad)


def test_raw_pickle_is_refused_without_torch_warnings(tmp_path: Path) -> None:
    path = tmp_path / "raw.pt"
    with open(path, "wb") as fh:
        pickle.dump({"w": torch.zeros(2)}, fh, protocol=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UserError):
            import_state_dict(path)
    assert not caught, [str(w.message) for w in caught]


def test_directory_passed_as_weights(tmp_path: Path) -> None:
    (tmp_path / "w.pt").mkdir()
    with pytest.raises(UserError, match=r"w\.pt is a directory, not a checkpoint"):
        import_state_dict(tmp_path / "w.pt")
    assert os.path.isdir(tmp_path / "w.pt")


def test_saved_tensors_get_the_umask_mode_not_0600(tmp_path: Path) -> None:
    import os

    from gancompress.io import save_tensors

    umask = os.umask(0o022)
    try:
        path = save_tensors({"w": torch.zeros(2)}, tmp_path / "g.safetensors")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # was 0600, unlike the run's JSON files
