"""gancompress.checkpoint: saved modules (safetensors + arch JSON, masks packed or derived) round-trip exactly; .pt
files are imported only through PyTorch's restricted loader; corrupt, mismatching and hostile weight files (non-finite
values, integer dtypes, masks other than 0/1) are refused with one line naming the tensor and the fix.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from gancompress.checkpoint import import_state_dict, load_module, load_state_dict_checked, save_module
from gancompress.errors import CorruptCheckpointError, UnsafeCheckpointError, UserError
from gancompress.files import load_tensors, save_tensors, write_json
from gancompress.models import create_model
from gancompress.pruning import MaskSet

SPEC = {"nz": 16, "ngf": 8, "channels": 1, "image_size": 32}


def tiny() -> nn.Module:
    return create_model("dcgan_generator", **SPEC)


# ------------------------------------------------------------------------------------------------ F4: arch specs


def test_bad_arch_spec_through_load_module(tmp_path: Path) -> None:
    save_module(tiny(), tmp_path, "generator")
    meta = json.loads((tmp_path / "generator.json").read_text())
    meta["kwargs"] = ["ngf", 8]
    (tmp_path / "generator.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"generator\.json: 'kwargs' must be an object"):
        load_module(tmp_path, "generator")


# ----------------------------------------------------------------------------------------- F2: non-finite values


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


# --------------------------------------------------------------------------------------------- F3: dtypes, masks


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


# --------------------------------------------------------------------------------------------- F14: .pt messages


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


# Recent torch warns about pickle protocols when the restricted unpickler reads a hand-made file; not our concern.
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")


def tiny_generator(ngf: int = 8) -> nn.Module:
    return create_model("dcgan_generator", nz=16, ngf=ngf, channels=1, image_size=16)


def pruned_generator() -> tuple[nn.Module, MaskSet]:
    torch.manual_seed(0)
    g = tiny_generator()
    masks = MaskSet.attach(g, granularity="element")
    masks.update(0.5)
    return g, masks


def random_bytes(n: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(n))


# ------------------------------------------------------------------------------------- save_module / load_module


def test_save_load_module_round_trip(tmp_path: Path) -> None:
    g, masks = pruned_generator()
    with torch.no_grad():  # non-trivial BatchNorm buffers too
        g.net[1].running_mean.uniform_(-1, 1)
    path = save_module(g, tmp_path, "generator", {"role": "generator"})

    assert path == tmp_path / "generator.safetensors"
    meta = json.loads((tmp_path / "generator.json").read_text())
    assert meta["arch"] == "dcgan_generator"
    assert meta["kwargs"] == {"nz": 16, "ngf": 8, "channels": 1, "image_size": 16}
    assert meta["role"] == "generator"
    assert sorted(meta["masked_layers"]) == sorted(masks.names)

    loaded = load_module(tmp_path, "generator")
    assert loaded is not g
    assert type(loaded) is type(g)
    assert loaded.arch_spec == g.arch_spec  # rebuilt from the JSON spec, no pickled code
    want, got = g.state_dict(), loaded.state_dict()
    assert list(got) == list(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    # masks survive as buffers and rebuild a MaskSet with the same sparsity
    restored = MaskSet.from_model(loaded)
    assert restored.names == masks.names
    assert restored.overall_sparsity() == masks.overall_sparsity() == 0.5
    z = torch.randn(4, 16)
    g.eval(), loaded.eval()
    assert torch.equal(g(z), loaded(z))


def test_save_module_without_arch_spec_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="arch_spec"):
        save_module(nn.Linear(2, 2), tmp_path, "x")


def test_load_module_corrupt_json(tmp_path: Path) -> None:
    g, _ = pruned_generator()
    save_module(g, tmp_path, "generator")
    (tmp_path / "generator.json").write_text('{"arch": "dcgan_gen')
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*generator\.json"):
        load_module(tmp_path, "generator")
    (tmp_path / "generator.json").write_text('{"kwargs": {}}')
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*no 'arch'"):
        load_module(tmp_path, "generator")


def test_load_module_truncated_safetensors(tmp_path: Path) -> None:
    g, _ = pruned_generator()
    path = save_module(g, tmp_path, "generator")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*generator\.safetensors"):
        load_module(tmp_path, "generator")


# ---------------------------------------------------------------------------------- saved size: masks not stored


def pruned_dcgan(granularity: str, sparsity: float) -> nn.Module:
    torch.manual_seed(0)
    g = create_model("dcgan_generator", nz=16, ngf=16, channels=1, image_size=32)
    MaskSet.attach(g, granularity=granularity).update(sparsity)
    return g


def dense_bytes(g: nn.Module, tmp_path: Path) -> int:
    """Size of the same weights without masks, written by the same save_module: what the dense model costs."""
    dense = create_model(g.arch_spec["arch"], **g.arch_spec["kwargs"])
    dense.load_state_dict({k: v for k, v in g.state_dict().items() if not k.endswith("_mask")})
    return save_module(dense, tmp_path / "dense", "generator").stat().st_size


def assert_exact_reload(g: nn.Module, directory: Path) -> nn.Module:
    """load_module gives back every tensor, masks included: same keys, dtypes, shapes and float bits (−0.0 too)."""
    loaded = load_module(directory, "generator")
    want, got = g.state_dict(), loaded.state_dict()
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key].dtype == want[key].dtype and torch.equal(got[key], want[key]), key
        assert torch.equal(got[key].reshape(-1).view(torch.uint8), want[key].reshape(-1).view(torch.uint8)), key
    return loaded


@pytest.mark.parametrize(
    ("granularity", "sparsity"),
    [("element", 0.0), ("element", 0.03), ("element", 0.5), ("element", 0.9), ("filter", 0.5), ("nm", 0.5)],
)
def test_saved_module_is_no_larger_than_dense_and_reloads_exactly(
    tmp_path: Path, granularity: str, sparsity: float
) -> None:
    g = pruned_dcgan(granularity, sparsity)
    path = save_module(g, tmp_path, "generator")
    size, dense = path.stat().st_size, dense_bytes(g, tmp_path)
    assert size <= dense
    if sparsity >= 0.5 and granularity != "filter":
        assert size <= 0.55 * dense  # 4 B × kept + 1/8 B bitmask per weight
    raw = load_tensors(path)
    assert not any(k.endswith("weight_mask") for k in raw)  # no float masks on disk
    loaded = assert_exact_reload(g, tmp_path)
    assert MaskSet.from_model(loaded).overall_sparsity() == pytest.approx(MaskSet.from_model(g).overall_sparsity())


def test_low_sparsity_masks_are_derived_from_the_weights(tmp_path: Path) -> None:
    g = pruned_dcgan("element", 0.03)
    path = save_module(g, tmp_path, "generator")
    meta = json.loads((tmp_path / "generator.json").read_text())
    assert meta["format"] == "gancompress/2"
    assert sorted(meta["derived_masks"]) == sorted(f"{n}.weight" for n in meta["masked_layers"])
    raw = load_tensors(path)  # the dense weights as they are: any safetensors reader gets them
    assert all(torch.equal(raw[k], g.state_dict()[k]) for k in meta["derived_masks"])


@pytest.mark.parametrize("sparsity", [0.03, 0.5])  # derived (flip list) and packed (exceptions) encodings
def test_negative_zero_and_kept_zero_round_trip(tmp_path: Path, sparsity: float) -> None:
    g = pruned_dcgan("element", sparsity)
    with torch.no_grad():
        w, m = g.net[3].weight.view(-1), g.net[3].weight_mask.view(-1)
        w[(m == 0).nonzero()[0]] = -0.0  # a pruned entry left −0.0 by an old `w * mask`
        w[(m == 1).nonzero()[0]] = 0.0  # a kept weight that is exactly 0.0
    path = save_module(g, tmp_path, "generator")
    assert path.stat().st_size <= dense_bytes(g, tmp_path) + 256  # two exceptions: a few bytes, not a mask
    assert_exact_reload(g, tmp_path)
    state = import_state_dict(path)  # a run's file as --generator: the masks come back too (its JSON next to it)
    assert torch.equal(state["net.3.weight_mask"], g.net[3].weight_mask)


def test_gancompress1_files_still_load(tmp_path: Path) -> None:
    g = pruned_dcgan("element", 0.5)
    save_tensors(g.state_dict(), tmp_path / "generator.safetensors", metadata={"format": "gancompress/1"})
    masked = [k.removesuffix(".weight_mask") for k in g.state_dict() if k.endswith(".weight_mask")]
    write_json(tmp_path / "generator.json", {"format": "gancompress/1", **g.arch_spec, "masked_layers": masked})
    assert_exact_reload(g, tmp_path)
    assert torch.equal(import_state_dict(tmp_path / "generator.safetensors")["net.0.weight_mask"], g.net[0].weight_mask)


def _rewrite(path: Path, edit) -> None:
    """Re-save ``path`` after ``edit(tensors, packed_meta)`` changed its tensors / packed metadata in place."""
    from safetensors import safe_open

    from gancompress.pruning.packed import META_KEY

    with safe_open(str(path), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (a safe_open handle is not iterable)
        metadata = dict(fh.metadata())
    packed = json.loads(metadata[META_KEY]) if META_KEY in metadata else None
    edit(tensors, packed)
    if packed is not None:
        metadata[META_KEY] = json.dumps(packed)
    save_file(tensors, str(path), metadata=metadata)


def _lie_shape(t, p):
    p["packed"]["net.0.weight"]["shape"][0] += 1  # bitmask bytes no longer match the shape


def _lie_values(t, p):
    t["net.0.weight.__values"] = t["net.0.weight.__values"][:-1].clone()  # fewer values than set bits


def _lie_dtype(t, p):
    p["packed"]["net.0.weight"]["mask_dtype"] = "torch.nosuchtype"


def _lie_exception_index(t, p):
    t["net.0.weight.__exc_idx"] = torch.tensor([10**9])
    t["net.0.weight.__exc_val"] = torch.tensor([1.0])


def _lie_negative_index(t, p):
    t["net.0.weight.__exc_idx"] = torch.tensor([-1])  # would silently write the last entry
    t["net.0.weight.__exc_val"] = torch.tensor([1.0])


def _lie_shape_type(t, p):
    p["packed"]["net.0.weight"]["shape"] = ["16", None]


@pytest.mark.parametrize(
    "lie", [_lie_shape, _lie_values, _lie_dtype, _lie_exception_index, _lie_negative_index, _lie_shape_type]
)
def test_packed_file_with_lying_metadata_is_corrupt(tmp_path: Path, lie) -> None:
    path = save_module(pruned_dcgan("element", 0.5), tmp_path, "generator")
    _rewrite(path, lie)
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*generator\.safetensors: .*net\.0\.weight"):
        load_module(tmp_path, "generator")
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*generator\.safetensors"):
        import_state_dict(path)


def test_derived_mask_with_lying_flip_list_is_corrupt(tmp_path: Path) -> None:
    g = pruned_dcgan("element", 0.03)
    path = save_module(g, tmp_path, "generator")

    def lie(t, p):
        t["net.3.weight.__flip"] = torch.tensor([t["net.3.weight"].numel()])

    _rewrite(path, lie)
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*generator\.safetensors: .*out of range"):
        load_module(tmp_path, "generator")
    meta = json.loads((tmp_path / "generator.json").read_text())
    write_json(tmp_path / "generator.json", {**meta, "derived_masks": "net.3.weight"})
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*generator\.json: 'derived_masks'"):
        load_module(tmp_path, "generator")


def test_checks_apply_to_the_unpacked_state(tmp_path: Path) -> None:
    path = save_module(pruned_dcgan("element", 0.5), tmp_path, "generator")

    def nan(t, p):
        t["net.0.weight.__values"][0] = float("nan")

    _rewrite(path, nan)
    with pytest.raises(UserError, match=r"'net\.0\.weight' has 1 NaN/Inf"):
        load_module(tmp_path, "generator")


# --------------------------------------------------------------------------------------------- import_state_dict


def test_whole_pickled_model_is_refused_with_resave_hint(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(nn.Linear(3, 2), path)  # the whole module, pickled: the classic unsafe checkpoint
    with pytest.raises(UnsafeCheckpointError) as info:
        import_state_dict(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "torch.save(your_model.state_dict()" in msg  # says how to re-save it
    assert isinstance(info.value, UserError)  # → CLI exit 2


class _SystemPayload:
    """Unpickling this runs ``os.system("touch <marker>")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _OpenPayload:
    """Unpickling this runs ``open(marker, "w")``, which creates the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("payload", [_SystemPayload, _OpenPayload])
@pytest.mark.parametrize("container", ["torch_zip", "pickle_proto2"])
def test_pickle_with_code_is_refused_and_not_executed(tmp_path: Path, payload: type, container: str) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    obj = {"weight": torch.zeros(2), "x": payload(marker)}
    if container == "torch_zip":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=2))
    assert not marker.exists()  # __reduce__ runs at load time, not save time

    with pytest.raises(UnsafeCheckpointError, match="state_dict"):
        import_state_dict(path)
    assert not marker.exists(), "the payload was executed"


def test_pickle_protocol4_payload_is_refused_and_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_SystemPayload(marker), protocol=4))
    with pytest.raises(UserError):  # refused (unsafe or unreadable); above all, never run
        import_state_dict(path)
    assert not marker.exists(), "the payload was executed"


def test_plain_state_dict_pt_is_accepted(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    path = tmp_path / "weights.pt"
    torch.save(src.state_dict(), path)
    state = import_state_dict(path)
    assert list(state) == list(src.state_dict())
    for key, value in src.state_dict().items():
        assert torch.equal(state[key], value)
    dst = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    load_state_dict_checked(dst, state, path)
    assert torch.equal(dst[0].weight, src[0].weight)


def test_legacy_non_zip_state_dict_is_accepted(tmp_path: Path) -> None:
    src = nn.Linear(4, 3)
    path = tmp_path / "weights.pth"
    torch.save(src.state_dict(), path, _use_new_zipfile_serialization=False)
    state = import_state_dict(path)
    assert torch.equal(state["weight"], src.weight)


def test_state_dict_wrapper_and_module_prefix(tmp_path: Path) -> None:
    src = nn.Linear(4, 3)
    wrapped = {"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}  # DataParallel / Lightning
    path = tmp_path / "ckpt.pt"
    torch.save(wrapped, path)
    state = import_state_dict(path)
    assert sorted(state) == ["bias", "weight"]
    assert torch.equal(state["weight"], src.weight)


def test_safetensors_is_imported_directly(tmp_path: Path) -> None:
    src = nn.Linear(4, 3)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path))
    state = import_state_dict(path)
    assert torch.equal(state["bias"], src.bias)


def test_non_state_dict_pt_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(UserError, match="not a state_dict"):
        import_state_dict(path)


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        import_state_dict(tmp_path / "absent.pt")


# ------------------------------------------------------------------------------------------------- corrupt files


@pytest.mark.parametrize("cut", [0, 7, 40, "half", -1])
def test_truncated_safetensors_is_corrupt(tmp_path: Path, cut: int | str) -> None:
    good = tmp_path / "good.safetensors"
    save_file({"w": torch.randn(8, 8), "b": torch.randn(8)}, str(good))
    data = good.read_bytes()
    n = len(data) // 2 if cut == "half" else (len(data) + cut if cut == -1 else cut)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(data[:n])
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*bad\.safetensors: "):
        import_state_dict(bad)
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint "):
        load_tensors(bad)


def test_random_bytes_safetensors_is_corrupt(tmp_path: Path) -> None:
    bad = tmp_path / "noise.safetensors"
    bad.write_bytes(random_bytes(300))
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint "):
        import_state_dict(bad)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.95])
def test_truncated_pt_is_corrupt(tmp_path: Path, fraction: float) -> None:
    good = tmp_path / "good.pt"
    torch.save(nn.Linear(16, 16).state_dict(), good)
    data = good.read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*bad\.pt"):
        import_state_dict(bad)


def test_truncated_legacy_pt_is_corrupt(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save(nn.Linear(16, 16).state_dict(), good, _use_new_zipfile_serialization=False)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(good.read_bytes()[:40])
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint "):
        import_state_dict(bad)


# docs/architecture.md "Bad input": a corrupt file is "corrupt checkpoint <path>: …", never "refused … needs full
# unpickling".
@pytest.mark.parametrize(
    "content",
    [random_bytes(300, seed=0), random_bytes(1000, seed=1), b"hello world\n" * 10],
    ids=["noise300", "noise1000", "text"],
)
def test_random_bytes_pt_is_corrupt(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "noise.pt"
    bad.write_bytes(content)
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint .*noise\.pt"):
        import_state_dict(bad)


def test_random_bytes_pt_is_never_accepted(tmp_path: Path) -> None:
    """Whatever the classification, noise must be refused with a UserError (exit 2), not loaded or crash."""
    bad = tmp_path / "noise.pt"
    bad.write_bytes(random_bytes(300, seed=0))
    with pytest.raises(UserError):
        import_state_dict(bad)


# ----------------------------------------------------------------------------------------- architecture mismatch


def test_mismatch_names_first_tensor_and_both_shapes(tmp_path: Path) -> None:
    small, big = tiny_generator(ngf=8), tiny_generator(ngf=16)
    file_state = big.state_dict()
    own = small.state_dict()
    first = next(k for k in own if tuple(own[k].shape) != tuple(file_state[k].shape))
    assert first == "net.0.weight"
    with pytest.raises(UserError) as info:
        load_state_dict_checked(small, file_state, "teacher.safetensors")
    msg = str(info.value)
    assert "teacher.safetensors" in msg
    assert repr(first) in msg
    assert str(tuple(file_state[first].shape)) in msg
    assert str(tuple(own[first].shape)) in msg
    # the message names only the first mismatch
    assert "net.3.weight" not in msg


def test_mismatch_through_load_module(tmp_path: Path) -> None:
    save_module(tiny_generator(ngf=16), tmp_path, "generator")
    meta = json.loads((tmp_path / "generator.json").read_text())
    meta["kwargs"]["ngf"] = 8  # spec and weights disagree
    (tmp_path / "generator.json").write_text(json.dumps(meta))
    with pytest.raises(
        UserError, match=r"'net\.0\.weight' has shape \(16, 32, 4, 4\) in the file but \(16, 16, 4, 4\)"
    ):
        load_module(tmp_path, "generator")


def test_missing_and_unexpected_tensors(tmp_path: Path) -> None:
    model = nn.Linear(4, 3)
    state = dict(model.state_dict())
    del state["bias"]
    with pytest.raises(UserError, match=r"missing tensor 'bias' \(expected shape \(3,\)\)"):
        load_state_dict_checked(model, state, "w.pt")
    state = {**model.state_dict(), "extra": torch.zeros(5)}
    with pytest.raises(UserError, match=r"unexpected tensor 'extra' \(shape \(5,\)\)"):
        load_state_dict_checked(model, state, "w.pt")


def test_pruned_state_loads_into_fresh_model(tmp_path: Path) -> None:
    g, _ = pruned_generator()
    fresh = tiny_generator()
    load_state_dict_checked(fresh, g.state_dict(), "mem")  # mask buffers are created on demand
    assert torch.equal(fresh.net[0].weight_mask, g.net[0].weight_mask)
