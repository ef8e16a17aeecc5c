"""Bring your own GAN (docs/byo.md): ``examples/byo_gan.py`` end to end, and ``--model file.py:factory`` on the CLI.

Subprocesses cover the example script, a real ``compress --model`` run and one bad input (no traceback); the other
bad inputs go through ``cli.main`` in-process (same code path, exit code and stderr) to keep the file fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from gancompress.cli.main import main
from tests.clirun import ROOT, gancompress, run_cmd

MODEL = "examples/byo_model.py:build"


@pytest.fixture(scope="module")
def example_out(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """``python examples/byo_gan.py`` with tiny settings: trains, compresses, evaluates, saves."""
    out = tmp_path_factory.mktemp("byo") / "example"
    args = ["--steps", "3", "--compress-steps", "3", "--num-samples", "64", "--batch-size", "16", "--out", str(out)]
    proc = run_cmd([sys.executable, "examples/byo_gan.py", *args], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_example_script_runs(example_out: Path) -> None:
    summary = json.loads((example_out / "byo_summary.json").read_text())
    assert summary["compressed"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert summary["teacher"]["sparsity"] == 0.0
    assert json.loads((example_out / "generator.json").read_text())["arch"] == "user"
    assert (example_out / "teacher_generator.safetensors").is_file()


def test_cli_compress_with_model_then_evaluate(
    example_out: Path, tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    out = tmp_path / "cli"
    weights = ["--generator", str(example_out / "teacher_generator.safetensors")]
    weights += ["--discriminator", str(example_out / "teacher_discriminator.safetensors")]
    cmd = ["compress", "--model", MODEL, *weights, "--data", "digits"]
    cmd += ["--set", "data.image_size=16", "--sparsity", "0.5", "--steps", "2", "--batch-size", "16"]
    proc = gancompress([*cmd, "--out", str(out), "--json", "-q"], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["sparsity"] == pytest.approx(0.5, abs=0.01)
    meta = json.loads((out / "generator.json").read_text())
    assert (meta["arch"], meta["model"]) == ("user", MODEL)
    assert json.loads((out / "teacher" / "generator.json").read_text())["model"] == MODEL
    assert json.loads((out / "config.json").read_text())["model"]["family"] == "user"  # not the default family

    # a saved user model is rebuilt only with an explicit --model (its code is never run implicitly)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("GANCOMPRESS_CACHE", env["GANCOMPRESS_CACHE"])
    assert main(["evaluate", str(out), "--num-samples", "32", "--output", str(tmp_path / "e.json"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--model {MODEL}" in err[0]
    evaluate = ["evaluate", str(out), "--model", MODEL, "--num-samples", "32", "--output", str(tmp_path / "e.json")]
    assert main([*evaluate, "--set", 'eval.metrics=["fid","fidelity"]', "-q"]) == 0
    scores = json.loads((tmp_path / "e.json").read_text())[str(out)]
    assert scores["sparsity"] == pytest.approx(0.5, abs=0.01) and "fidelity_psnr" in scores

    # benchmark and export rebuild the user architecture the same way (and refuse without --model)
    assert main(["benchmark", str(out), "--backends", "eager", "--batch-sizes", "1", "--rounds", "1", "-q"]) == 2
    assert f"--model {MODEL}" in capsys.readouterr().err
    bench = ["benchmark", str(out), "--model", MODEL, "--backends", "eager", "--batch-sizes", "1", "--rounds", "1"]
    assert main([*bench, "--warmup", "1", "--output", str(tmp_path / "b.json"), "-q"]) == 0
    rows = json.loads((tmp_path / "b.json").read_text())["latency"]
    assert {r["model"].split(":")[-1] for r in rows} == {"dense", "masked"} and all(r["median_ms"] for r in rows)
    capsys.readouterr()
    packed = tmp_path / "g.packed.safetensors"
    assert main(["export", str(out), "--model", MODEL, "--format", "packed", "--out", str(packed), "--json", "-q"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["max_abs_diff"] == 0.0 and exported["size_ratio"] < 1.0

    # int8 of a user architecture, behind the quality gate on the run's own data (docs/deploy.md "Int8")
    int8 = ["export", str(out), "--model", MODEL, "--format", "onnx", "--int8", "--num-samples", "64"]
    assert main([*int8, "--out", str(tmp_path / "g.int8.onnx"), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accepted"]["int8_nodes"] >= 1 and "fid_ratio" in report["accepted"]
    assert report["fp32"]["fid"] > 0 and (tmp_path / "g.int8.inputs.npz").is_file()


def test_missing_model_file_subprocess(tmp_path: Path, env: dict[str, str]) -> None:
    proc = gancompress(["compress", "--model", "nope/none.py:build", "--dry-run", "-q"], env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --model: file not found: nope/none.py"]


BAD_FACTORIES = """
import sys
sys.path.insert(0, {examples!r})
from torch import nn
from byo_gan import ConvDiscriminator, HingeLoss, UpsampleGenerator

def wrong_type():
    return UpsampleGenerator()

def wrong_loss():
    return UpsampleGenerator(), ConvDiscriminator(), "hinge"

def no_prunable():
    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Tanh()), None, HingeLoss()

def flat_output():
    return nn.Linear(32, 10), None, HingeLoss()

def narrow():
    return UpsampleGenerator(width=8), ConvDiscriminator(), HingeLoss()
"""


@pytest.fixture
def bad_model(tmp_path: Path) -> Path:
    path = tmp_path / "bad_model.py"
    path.write_text(BAD_FACTORIES.format(examples=str(ROOT / "examples")))
    return path


@pytest.mark.parametrize(
    ("factory", "extra", "expected"),
    [
        ("missing", [], "has no function 'missing'"),
        ("wrong_type", [], "returned UpsampleGenerator; it must return (generator"),
        ("wrong_loss", [], "returned a str as the loss"),
        ("no_prunable", [], "no prunable layer (Conv2d, ConvTranspose2d or Linear)"),
        ("flat_output", [], "returns (2, 10); it must return images (B, C, H, W)"),
        ("build", [], "makes 1×16×16 images but the data is 1×32×32 (C×H×W); set data.image_size=16"),
        ("narrow", ["weights"], "tensor 'fc.weight' has shape (512, 32) in the file but (256, 32) in the model"),
        ("build", ["no-weights"], "pass --generator WEIGHTS"),
    ],
)
def test_bad_model_inputs_exit_2_one_line(
    bad_model: Path, tmp_path: Path, capsys, factory: str, extra: list[str], expected: str
) -> None:
    spec = f"{bad_model}:{factory}" if factory != "build" else str(ROOT / MODEL)
    args = ["compress", "--model", spec, "--out", str(tmp_path / "out"), "-q"]
    if extra == ["weights"]:
        weights = tmp_path / "g.safetensors"
        sys.path.insert(0, str(ROOT / "examples"))
        try:
            from byo_gan import UpsampleGenerator
        finally:
            sys.path.remove(str(ROOT / "examples"))
        save_file(UpsampleGenerator().state_dict(), str(weights))
        args += ["--generator", str(weights)]
    elif extra != ["no-weights"]:
        args.append("--dry-run")
    torch.manual_seed(0)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ") and expected in err[0], err[0]
    assert not (tmp_path / "out").exists()
