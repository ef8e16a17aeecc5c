"""Hostile user input: every bad value is a one-line ``UserError`` (CLI exit 2), never a traceback deep in torch.

Most checks call the API or ``cli.main`` in-process (fast); a few run ``python -m gancompress`` in a subprocess to
show the whole path: exit 2, one ``error:`` line, no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from gancompress import cli, commands
from gancompress.config import DataCfg, EvalCfg, ModelCfg, RunCfg, TrainCfg, load_config, override
from gancompress.data import load_dataset
from gancompress.data.image_folder import MAX_IMAGE_PIXELS
from gancompress.deploy import check_opset, onnx_opsets
from gancompress.errors import UserError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from clirun import error_line, gancompress  # the shared subprocess helper of the CLI tests, on the path just above


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


assert_exit2 = error_line  # exit 2, no traceback, one error: line (clirun.py)


def main_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``cli.main(argv)`` in-process: asserts exit 2 and returns the error line."""
    assert cli.main([*argv, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


# -------------------------------------------------------------------------------------------- F9: train options
@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("train.lr_g=-1", "train.lr_g"),
        ("train.lr_g=nan", "train.lr_g"),
        ("train.lr_d=0", "train.lr_d"),
        ("train.lr_d=inf", "train.lr_d"),
        ("train.beta1=2", "train.beta1"),
        ("train.beta2=1", "train.beta2"),
        ("train.beta2=-0.1", "train.beta2"),
        ("train.grad_clip=0", "train.grad_clip"),
        ("train.grad_clip=nan", "train.grad_clip"),
        ("train.budget_fraction=0", "train.budget_fraction"),
        ("train.budget_fraction=inf", "train.budget_fraction"),
        ("train.log_every=0", "train.log_every"),
        ("train.ckpt_every=-1", "train.ckpt_every"),
        ("train.sample_every=-5", "train.sample_every"),
        ("train.eval_every=-1", "train.eval_every"),
    ],
)
def test_bad_train_values(assignment: str, key: str) -> None:
    with pytest.raises(UserError, match=rf"^{key} must be"):
        override(RunCfg(), [assignment])


def test_good_train_values() -> None:
    cfg = override(RunCfg(), ["train.lr_g=2e-4", "train.beta1=0", "train.grad_clip=5", "train.ckpt_every=0"]).train
    assert (cfg.lr_g, cfg.beta1, cfg.grad_clip, cfg.ckpt_every) == (2e-4, 0.0, 5.0, 0)
    assert override(RunCfg(), ["train.grad_clip=None"]).train.grad_clip is None
    assert TrainCfg(budget_fraction=2.0, eval_every=0, sample_every=0).budget_fraction == 2.0


def test_cli_bad_learning_rate_is_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    proc = gancompress(["train", "--dry-run", "--set", "train.lr_g=-1", "--out", str(tmp_path / "x")], env, quiet=True)
    assert_exit2(proc, "train.lr_g must be a finite number > 0")
    assert not (tmp_path / "x").exists()


# -------------------------------------------------------------------------------- F10/F11: model, data, eval sizes
@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda: ModelCfg(ngf=-1), "model.ngf"),
        (lambda: ModelCfg(ngf=0), "model.ngf"),
        (lambda: ModelCfg(nz=0), "model.nz"),
        (lambda: ModelCfg(ndf=-2), "model.ndf"),
        (lambda: ModelCfg(ngf=True), "model.ngf"),
        (lambda: ModelCfg(nz=8.5), "model.nz"),
        (lambda: DataCfg(channels=2), "data.channels"),
        (lambda: DataCfg(channels=0), "data.channels"),
        (lambda: DataCfg(channels=True), "data.channels"),
        (lambda: DataCfg(image_size=0), "data.image_size"),
        (lambda: DataCfg(limit=0), "data.limit"),
        (lambda: EvalCfg(num_samples=0), "eval.num_samples"),
        (lambda: EvalCfg(seeds=-1), "eval.seeds"),
        (lambda: EvalCfg(batch_size=0), "eval.batch_size"),
    ],
)
def test_bad_sizes(make, key: str) -> None:
    with pytest.raises(UserError, match=rf"^{key} must be"):
        make()


def test_good_sizes_and_override_of_model_width() -> None:
    assert ModelCfg(nz=16, ngf=8, ndf=8).ngf == 8
    assert DataCfg(channels=3, image_size=16, limit=5).channels == 3
    assert EvalCfg(num_samples=1, seeds=3).seeds == 3
    assert override(RunCfg(), ["model.ngf=8"]).model.ngf == 8
    with pytest.raises(UserError, match=r"^model\.ngf must be a positive integer, got -1"):
        override(RunCfg(), ["model.ngf=-1"])


def test_cli_num_samples_and_seeds_checked_even_under_dry_run(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    # --dry-run replaces eval.num_samples by 64, but a 0 the user typed is still refused
    proc = gancompress(["evaluate", "--dry-run", "--num-samples", "0", str(run)], env, quiet=True)
    assert_exit2(proc, "eval.num_samples must be a positive integer")
    assert "--seeds must be >= 1, got 0" in main_error(["evaluate", "--dry-run", "--seeds", "0", str(run)], capsys)
    assert "got -2" in main_error(["evaluate", "--dry-run", "--seeds", "-2", str(run)], capsys)


def _namespace(out: Path) -> argparse.Namespace:
    return argparse.Namespace(out=str(out), dry_run=False, resume=False, overwrite=False)


def test_crash_before_training_output_leaves_no_run(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with pytest.raises(RuntimeError), commands._open_run(_namespace(out), "unused") as (run, _):
        commands._start(run, RunCfg(), None)  # config.json + env.json, then e.g. a oneDNN error
        raise RuntimeError("boom")
    assert not out.exists()  # a re-run does not say "already exists"

    made = tmp_path / "made"  # a directory the user made: emptied again, not removed
    made.mkdir()
    with pytest.raises(RuntimeError), commands._open_run(_namespace(made), "unused") as (run, _):
        commands._start(run, RunCfg(), None)
        raise RuntimeError("boom")
    assert made.is_dir() and not any(made.iterdir())


def test_crash_after_training_output_keeps_the_run(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with pytest.raises(RuntimeError), commands._open_run(_namespace(out), "unused") as (run, _):
        commands._start(run, RunCfg(), None)
        run.log_metrics(1, {"loss": 1.0})  # training has written output: kept for inspection
        run.close()
        raise RuntimeError("boom")
    assert (out / "metrics.jsonl").is_file() and (out / "config.json").is_file()


# --------------------------------------------------------------------------------------- F14: bools as numbers
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prune": {"sparsity": true}}', "prune.sparsity: expected a number, got true"),
        ('{"train": {"lr_g": false}}', "train.lr_g: expected a number, got false"),
        ('{"train": {"steps": true}}', "train.steps: expected an integer, got true"),
        ('{"model": {"ngf": true}}', "model.ngf: expected an integer, got true"),
    ],
)
def test_bool_is_not_a_number(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_config(path)


def test_numbers_still_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[prune]\nsparsity = 0.75\n[train]\nlr_g = 1\nsteps = 3\n")
    cfg = load_config(path)
    assert (cfg.prune.sparsity, cfg.train.lr_g, cfg.train.steps) == (0.75, 1.0, 3)


# ------------------------------------------------------------------------------- F7: a run config.json not an object
@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "3", '{"train": [1]}'])
def test_corrupt_run_config(tmp_path: Path, content: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(UserError, match=r"corrupt run config .*config\.json"):
        cli.run_config(tmp_path)


def test_run_config_list_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "config.json").write_text("[1, 2]")
    err = main_error(["evaluate", "--dry-run", str(teacher)], capsys)
    assert "expected a JSON object, got list" in err
    err = main_error(["prune", "--dry-run", "--teacher", str(teacher), "--out", str(tmp_path / "p")], capsys)
    assert "corrupt run config" in err and not (tmp_path / "p").exists()


def test_run_config_round_trip(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model": {"ngf": 8}, "seed": 3}))
    assert cli.run_config(tmp_path).model.ngf == 8


# ------------------------------------------------------------------------------ F8: a teacher without config.json
def _teacher_args(teacher: Path, **kw) -> argparse.Namespace:
    base = {"teacher": str(teacher), "model": None, "data": None, "data_dir": None, "config": None, "dry_run": False}
    return argparse.Namespace(**{**base, **kw})


def test_teacher_without_config_needs_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match=r"has no config\.json, so its dataset and family are unknown; pass --data"):
        commands._load_teacher_any(_teacher_args(tmp_path))
    (tmp_path / "config.json").mkdir()
    with pytest.raises(UserError, match=r"config\.json: a directory, not a JSON file"):
        commands._load_teacher_any(_teacher_args(tmp_path))

    import gancompress.pipeline as pipeline

    monkeypatch.setattr(pipeline, "load_gan", lambda *a, **k: ("g", "d"))
    monkeypatch.setattr(pipeline, "gan_info", lambda path: {"steps": 7})
    (tmp_path / "config.json").rmdir()
    _, _, base, steps, _ = commands._load_teacher_any(_teacher_args(tmp_path, data="fake"))  # --data: fine
    assert steps == 7 and base == RunCfg()


# ------------------------------------------------------------------------------- F12: ONNX opset, evaluate a file
@pytest.mark.parametrize("opset", [0, 6, 999, True, "17"])
def test_bad_onnx_opset(opset: object) -> None:
    low, high = onnx_opsets()
    with pytest.raises(UserError, match=rf"choose --opset {low}\.\.{high}"):
        check_opset(opset)


def test_good_onnx_opset() -> None:
    low, high = onnx_opsets()
    assert low <= 17 <= high
    check_opset(17)


def test_cli_export_opset_999(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    (tmp_path / "run").mkdir()
    args = ["export", str(tmp_path / "run"), "--format", "onnx", "--opset", "999", "--out", str(out)]
    proc = gancompress(args, env, quiet=True)  # refused before the run is even loaded
    assert_exit2(proc, "ONNX opset 999 is not supported")
    assert not out.exists()


def test_evaluate_a_regular_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    assert f"{path} is not a run directory" in main_error(["evaluate", "--dry-run", str(path)], capsys)


# ----------------------------------------------------------------------------- F13: decompression bombs in folders
def _png_header(path: Path, width: int, height: int) -> None:
    """A tiny PNG that claims ``width``×``height`` grayscale pixels (no pixel data): PIL reads the size from it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((8000, 8000), r"is 8000×8000 px \(64 Mpx\), above the image_folder limit of 50 Mpx"),  # below PIL's own limit
        ((12000, 12000), r"is above the image_folder limit of 50 Mpx \(Image size \(144000000 pixels\)"),  # PIL warns
        ((20000, 20000), r"is above the image_folder limit of 50 Mpx \(Image size \(400000000 pixels\)"),  # PIL errors
    ],
)
def test_image_folder_refuses_huge_images(tmp_path: Path, size: tuple[int, int], message: str) -> None:
    Image.new("RGB", (30, 20), (200, 10, 10)).save(tmp_path / "ok.png")
    _png_header(tmp_path / "bomb.png", *size)
    assert size[0] * size[1] > MAX_IMAGE_PIXELS
    with pytest.raises(UserError, match=rf"image .*bomb\.png {message}"):
        load_dataset(DataCfg(name="image_folder", data_dir=str(tmp_path), image_size=16, channels=3))


def test_image_folder_small_odd_sizes_still_resized(tmp_path: Path) -> None:
    Image.new("RGB", (30, 20), (200, 10, 10)).save(tmp_path / "a.png")
    Image.new("L", (7, 13), 50).save(tmp_path / "b.png")
    ds = load_dataset(DataCfg(name="image_folder", data_dir=str(tmp_path), image_size=16, channels=3))
    assert tuple(ds.images.shape) == (2, 3, 16, 16)


# --------------------------------------------------------------------- F14: --model / --config not regular files
def test_model_and_config_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, folder = str(tmp_path / "o"), tmp_path / "folder"
    folder.mkdir()
    err = main_error(["compress", "--dry-run", "--model", f"{folder}/:build", "--out", out], capsys)
    assert f"{folder} is a directory; give a Python file" in err
    err = main_error(["train", "--dry-run", "--config", str(folder), "--out", out], capsys)
    assert f"config {folder} is a directory" in err
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_cli_config_dev_zero(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = gancompress(["train", "--dry-run", "--config", "/dev/zero", "--out", str(out)], env, quiet=True)
    assert_exit2(proc, "config /dev/zero is not a regular file")  # not read forever, not "not found"
    assert not out.exists()


@pytest.mark.parametrize("where", ["module", "factory"])
def test_user_model_calling_sys_exit_is_reported(tmp_path: Path, where: str) -> None:
    from gancompress.user_model import build_user_model

    body = "import sys\n" + ("sys.exit(0)\n" if where == "module" else "def build():\n    sys.exit(0)\n")
    (tmp_path / "m.py").write_text(body + ("def build():\n    return None\n" if where == "module" else ""))
    # before: SystemExit went through and gancompress ended with code 0 and no output
    with pytest.raises(UserError, match="SystemExit"):
        build_user_model(f"{tmp_path / 'm.py'}:build")
