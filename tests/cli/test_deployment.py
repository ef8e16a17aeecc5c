"""``gancompress benchmark`` / ``gancompress export`` (cli/benchmark.py, cli/export.py and what they share,
cli/deployment.py): via subprocess on a --dry-run teacher pruned at filter level, and the physical copy's warnings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.clirun import (
    error_line,  # the shared subprocess helper of the CLI tests
    gancompress,
    train_dry_run,
)

OUTPUT_LAYER = "net.9"  # the --dry-run DCGAN generator's last ConvTranspose2d (32 px: net.0, net.3, net.6, net.9)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    return train_dry_run(tmp_path_factory.mktemp("runs") / "T", env)


@pytest.fixture(scope="module")
def pruned(teacher: Path, env: dict[str, str]) -> Path:
    pytest.importorskip("torch_pruning")  # filter masks trace their coupled norms; physical removal
    pytest.importorskip("gancompress.pruning.physical")
    out = teacher.parent / "P"
    args = ["prune", "--teacher", str(teacher), "--granularity", "filter", "--sparsity", "0.5"]
    proc = gancompress([*args, "--set", f"prune.exclude={OUTPUT_LAYER}", "--out", str(out), "-q"], env)
    assert proc.returncode == 0, proc.stderr
    return out


def test_help_lists_deploy_commands(env: dict[str, str]) -> None:
    proc = gancompress(["--help"], env)
    assert proc.returncode == 0 and "benchmark" in proc.stdout and "export" in proc.stdout


def test_benchmark_json(pruned: Path, env: dict[str, str]) -> None:
    args = ["benchmark", str(pruned), "--rounds", "1", "--batch-sizes", "1", "--backends", "eager", "--json", "-q"]
    proc = gancompress(args, env)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    models = payload["models"]
    assert set(models) == {"P:dense", "P:masked", "P:physical"}  # filter masks ⇒ physical model built automatically
    dense, masked, physical = models["P:dense"], models["P:masked"], models["P:physical"]
    assert dense["macs"] == masked["macs"] > physical["macs"] == physical["effective_macs"] > 0
    assert masked["effective_macs"] < masked["macs"]
    assert physical["params"] < masked["params"] and physical["size_bytes"] < dense["size_bytes"]
    assert physical["parity_max_abs_diff"] <= 1e-4
    rows = {r["model"]: r for r in payload["latency"]}
    assert len(payload["latency"]) == 3 and all(r["backend"] == "eager" and r["batch"] == 1 for r in rows.values())
    assert all(r["median_ms"] > 0 for r in rows.values())
    assert rows["P:physical"]["reference"] == "P:dense"
    assert rows["P:physical"]["ideal_mac_ratio"] == pytest.approx(dense["macs"] / physical["macs"])
    assert rows["P:physical"]["speedup"] > 0 and rows["P:physical"]["measured_over_ideal"] > 0
    assert payload["settings"]["threads"] == [2] and payload["settings"]["rounds"] == 1
    assert all(r["threads"] == 2 for r in payload["latency"])


def test_benchmark_uses_the_recorded_teacher_as_dense_reference(
    teacher: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    comp = tmp_path / "C"  # element-sparse compress run: compress.json names the teacher; no physical model
    proc = gancompress(["compress", "--teacher", str(teacher), "--dry-run", "--out", str(comp), "-q"], env)
    assert proc.returncode == 0, proc.stderr
    proc = gancompress(
        ["benchmark", str(comp), "--rounds", "1", "--batch-sizes", "1", "--backends", "eager", "--json"], env
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert set(payload["models"]) == {"T:dense", "C:masked"}
    assert payload["models"]["T:dense"]["source"] == "teacher"
    row = next(r for r in payload["latency"] if r["model"] == "C:masked")
    assert row["reference"] == "T:dense" and row["ideal_mac_ratio"] == pytest.approx(2.0, rel=0.05)


def test_benchmark_table_output(pruned: Path, env: dict[str, str]) -> None:
    proc = gancompress(
        ["benchmark", str(pruned), "--rounds", "1", "--batch-sizes", "2", "--backends", "eager", "-q"], env
    )
    assert proc.returncode == 0, proc.stderr
    assert "| P:physical |" in proc.stdout and "effective_macs" in proc.stdout and "measured_over_ideal" in proc.stdout


def export_json(run: Path, fmt: str, out: Path, env: dict[str, str]) -> dict:
    """``gancompress export run --format fmt --out out --json -q``, asserted to succeed: its JSON payload."""
    proc = gancompress(["export", str(run), "--format", fmt, "--out", str(out), "--json", "-q"], env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_export_onnx(pruned: Path, tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "g.onnx"
    payload = export_json(pruned, "onnx", out, env)
    assert out.is_file() and payload["max_abs_diff"] <= 1e-4 and payload["format"] == "onnx"
    again = gancompress(["export", str(pruned), "--format", "onnx", "--out", str(out), "-q"], env)
    assert again.returncode == 2 and "--overwrite" in again.stderr  # refuses to replace silently


def test_export_packed(pruned: Path, tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("gancompress.pruning.packed")
    out = tmp_path / "g.packed.safetensors"
    payload = export_json(pruned, "packed", out, env)
    assert out.is_file() and payload["max_abs_diff"] == 0.0 and 0 < payload["size_ratio"] < 1


def test_export_physical_round_trips(pruned: Path, tmp_path: Path, env: dict[str, str]) -> None:
    from gancompress.checkpoint import load_module

    out = tmp_path / "phys"
    payload = export_json(pruned, "physical", out, env)
    assert payload["params"] < payload["params_before"] and payload["max_abs_diff"] <= 1e-4
    assert payload["removed"] and not payload["skipped"]
    meta = json.loads((out / "generator.json").read_text())
    assert meta["channel_spec"] and meta["family"] == "dcgan"
    small, masked = load_module(out, "generator").eval(), load_module(pruned, "generator").eval()
    z = torch.randn(4, small.nz)
    with torch.no_grad():
        assert (small(z) - masked(z)).abs().max() <= 1e-4


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["export", "{run}", "--format", "tflite", "--out", "x"], "invalid choice"),
        (["benchmark", "{run}", "--backends", "eager,tensorrt"], "unknown backend"),
        (["benchmark", "{run}", "--batch-sizes", "1,x"], "comma-separated integers"),
        (["benchmark", "/nonexistent/run"], "not a gancompress run directory"),
    ],
)
def test_bad_input_exits_2(pruned: Path, env: dict[str, str], args: list[str], fragment: str) -> None:
    proc = gancompress([a.format(run=pruned) for a in args], env)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------ F12: ONNX opset, evaluate a file


def test_cli_export_opset_999(plain_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    (tmp_path / "run").mkdir()
    args = ["export", str(tmp_path / "run"), "--format", "onnx", "--opset", "999", "--out", str(out)]
    proc = gancompress(args, plain_env, quiet=True)  # refused before the run is even loaded
    error_line(proc, "ONNX opset 999 is not supported")
    assert not out.exists()


# ------------------------------------------------------------------------------------------------------- latency


def test_physical_export_names_the_skip_when_nothing_was_removed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Filters were pruned but their coupling could not be shrunk (a grouped conv): the warning says that, not
    "prune with --granularity filter" (found by an architecture probe)."""
    import logging

    from gancompress.cli import deployment

    g = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1))
    report = {"removed": {}, "skipped": {"0": "grouped convolution '1' (groups=2) is unsupported"}}
    monkeypatch.setattr(deployment, "remove_pruned_channels", lambda m, inputs: (m, report))
    with caplog.at_level(logging.WARNING, logger="gancompress"):
        deployment.physical_copy(g, lambda n: (torch.randn(n, 1, 4, 4),))
    assert "1 pruned layer(s) skipped, e.g. 0: grouped convolution" in caplog.text
    assert "prune with --granularity filter" not in caplog.text
