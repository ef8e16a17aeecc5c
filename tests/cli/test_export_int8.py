"""``gancompress export RUN --format onnx --int8`` (cli/export_int8.py) via subprocess on a --dry-run teacher: the
int8 model with its report, sample inputs and metadata, behind the FID gate and without it; bad flag combinations and
an existing output refused with one line; and the fp32 ONNX export's metadata and sample inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.clirun import error_line, gancompress

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

# a 16 px DCGAN on 128 stand-in images: the gate's domain extractor trains in seconds (32 px × 512 takes ~30 s)
TINY = ["--set", "data.image_size=16", "--set", "data.limit=128"]
CALIB = ["--calib-batches", "2", "--calib-batch-size", "4"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("runs") / "T"
    proc = gancompress(["train", "--dry-run", *TINY, "--out", str(out), "-q"], env)
    assert proc.returncode == 0, proc.stderr
    return out


def metadata(path: Path) -> dict[str, Any]:
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props["gancompress"])


def test_int8_export_behind_the_quality_gate(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "g.int8.onnx"
    args = ["export", str(teacher), "--format", "onnx", "--int8", "--out", str(out), "--num-samples", "64", *CALIB]
    proc = gancompress([*args, "--json"], env, quiet=True)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    report_file, inputs_file = out.with_suffix(".json"), out.with_suffix(".inputs.npz")
    assert out.is_file() and report_file.is_file() and inputs_file.is_file()

    report = json.loads(report_file.read_text())
    assert {"accepted", "fp32", "attempts", "rewrite", "calibration", "gate"} <= set(report)
    assert report == json.loads(json.dumps(payload))  # the file is what --json printed
    assert report["format"] == "onnx-int8" and report["path"] == str(out) and report["gate"] == "fid"
    assert report["size_bytes"] == out.stat().st_size < report["fp32"]["size_bytes"]
    assert report["fp32"]["fid"] > 0 and report["calibration"]["batches"] == 2
    acc = report["accepted"]
    assert acc["passed"] and acc["fid_ratio"] <= 1.05
    assert acc["fid"] == pytest.approx(report["fp32"]["fid"] * acc["fid_ratio"])
    assert acc == report["attempts"][-1] | {"path": str(out)}
    assert report["rewrite"]["conv_transpose_rewritten"] >= 1

    meta = metadata(out)
    assert meta["int8"] is True and meta["family"] == "dcgan" and meta["source_run"] == str(teacher)
    assert meta["output_range"] == [-1, 1]
    assert meta["inputs"] == [{"name": "input", "shape": [16], "kind": "latent", "dtype": "float32"}]
    with np.load(inputs_file) as npz:
        assert list(npz) == ["input"] and npz["input"].shape == (64, 16) and npz["input"].dtype == np.float32

    # the same output again, without --overwrite: refused in one line, the model left as it was
    before = out.read_bytes()
    again = gancompress(args, env, quiet=True)
    error_line(again, str(out), "already exists", "--overwrite")
    assert out.read_bytes() == before


def test_int8_export_without_the_gate(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "q.onnx"
    args = ["export", str(teacher), "--format", "onnx", "--int8", "--no-quality-gate", "--int8-format", "qoperator"]
    proc = gancompress([*args, *CALIB, "--out", str(out)], env, quiet=True)
    assert proc.returncode == 0, proc.stderr
    assert "quality gate off" in proc.stdout and str(out) in proc.stdout
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["gate"].startswith("off") and "fid" not in report["fp32"]
    assert report["config"]["fmt"] == "qoperator" and len(report["attempts"]) == 1
    assert "fid_ratio" not in report["accepted"] and report["accepted"]["max_abs_diff_vs_fp32"] < 0.5
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "QLinearConv" in ops and "Conv" not in ops
    assert metadata(out)["int8"] is True and out.with_suffix(".inputs.npz").is_file()


def test_int8_needs_format_onnx(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "g.packed"
    proc = gancompress(["export", str(teacher), "--format", "packed", "--int8", "--out", str(out)], env, quiet=True)
    error_line(proc, "--int8 applies to --format onnx")
    assert not out.exists()


def test_fp32_onnx_export_writes_metadata_and_sample_inputs(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "g.onnx"
    proc = gancompress(["export", str(teacher), "--format", "onnx", "--out", str(out)], env, quiet=True)
    assert proc.returncode == 0, proc.stderr
    meta = metadata(out)
    assert meta["int8"] is False and meta["family"] == "dcgan"
    assert meta["inputs"] == [{"name": "input", "shape": [16], "kind": "latent", "dtype": "float32"}]
    with np.load(out.with_suffix(".inputs.npz")) as npz:
        assert npz["input"].shape == (64, 16)
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "ConvTranspose" in ops and "QuantizeLinear" not in ops  # fp32: neither rewritten nor quantized
