"""gancompress.export.openvino_runtime and the OpenVINO int8 target: OpenVINO's outputs equal ONNX Runtime's (per
input shape), unknown runtimes and QOperator-for-OpenVINO refused, ConvTranspose counted int8 only for OpenVINO, the
gated export without the ConvTranspose rewrite, the openvino / openvino_int8 latency backends, and the install hint
when openvino is missing."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.export.int8_gate import export_int8
from gancompress.export.latency import add_speedups, benchmark_latency
from gancompress.export.onnx import export_onnx, ort_session
from gancompress.export.openvino_runtime import openvino_runner, runner
from gancompress.export.quantize import Int8Cfg, calibration_feeds, op_histogram, quantize_onnx
from gancompress.models import create_model

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

pytestmark = pytest.mark.usefixtures("one_thread")


def latents(n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    return (torch.randn(n, 16, generator=torch.Generator().manual_seed(seed)),)


class Upsampler(nn.Module):
    """z (B, 16) → 16 × 1 × 1 → ConvTranspose 4×4 (stride 1) → ConvTranspose 4×4 (stride 2) → tanh: (B, 3, 8, 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(16, 8, 4, 1, 0), nn.ReLU(), nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(-1, 16, 1, 1))


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny fp32 conv generator (image → image), exported with a dynamic batch axis."""
    torch.manual_seed(0)
    g = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1), nn.Tanh())
    path = tmp_path_factory.mktemp("openvino") / "conv.onnx"
    export_onnx(g.eval(), (torch.randn(2, 3, 8, 8),), path)
    return path


@pytest.fixture(scope="module")
def upsampler(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("openvino") / "up.onnx"
    export_onnx(Upsampler().eval(), latents(2), path)
    return path


def test_openvino_runner_matches_onnxruntime_per_batch_shape(conv_model: Path) -> None:
    """Two batch sizes (one compiled model each) and the first again (its cached model): ONNX Runtime's outputs."""
    run, session = openvino_runner(conv_model, threads=1), ort_session(conv_model, 1)
    rng = np.random.default_rng(0)
    batches = [rng.uniform(-1, 1, (b, 3, 8, 8)).astype(np.float32) for b in (2, 5)]
    for x in [*batches, batches[0]]:
        got, want = run({"input": x}), session.run(None, {"input": x})
        assert len(got) == len(want) == 1 and got[0].shape == want[0].shape == x.shape
        np.testing.assert_allclose(got[0], want[0], atol=1e-4, rtol=0)


def test_runner_refuses_an_unknown_runtime(conv_model: Path) -> None:
    with pytest.raises(UserError, match="bogus"):
        runner(conv_model, 1, "bogus")


def test_openvino_int8_needs_qdq() -> None:
    with pytest.raises(UserError, match="QDQ"):
        Int8Cfg(runtime="openvino", fmt="qoperator")


def test_conv_transpose_runs_int8_on_openvino_only(upsampler: Path, tmp_path: Path) -> None:
    """The same QDQ model: both ConvTranspose layers count as int8 for OpenVINO (native int8 kernels); for ONNX
    Runtime they are int8 storage, fp32 compute."""
    feeds = calibration_feeds(["input"], [latents(4, 1000 + i) for i in range(2)])
    ov = quantize_onnx(upsampler, tmp_path / "ov.onnx", feeds, Int8Cfg(runtime="openvino"))
    ort = quantize_onnx(upsampler, tmp_path / "ort.onnx", feeds, Int8Cfg(runtime="onnxruntime"))
    assert ov["weighted_nodes"] == ort["weighted_nodes"] == 2
    assert ov["int8_nodes"] == 2 and ov["fp32_weighted"] == {}
    assert ort["int8_nodes"] == 0
    assert list(ort["fp32_weighted"].values()) == ["ConvTranspose: int8 storage, fp32 compute"] * 2
    assert op_histogram(tmp_path / "ov.onnx")["ConvTranspose"] == 2


def test_export_int8_for_openvino_keeps_conv_transpose(tmp_path: Path) -> None:
    """A tiny DCGAN, gate off: no rewrite, the written model keeps its ConvTranspose nodes, and OpenVINO's int8
    output stays close to fp32."""
    torch.manual_seed(0)
    g = create_model("dcgan_generator", nz=16, ngf=8).eval()
    cfg = Int8Cfg(runtime="openvino", calib_batches=2, calib_batch_size=4)
    out = tmp_path / "g.int8.onnx"
    report = export_int8(g, lambda n, seed: latents(n, seed), out, evaluator=None, loss=None, cfg=cfg)
    assert report["rewrite"]["conv_transpose_rewritten"] == 0 and report["config"]["runtime"] == "openvino"
    assert op_histogram(out).get("ConvTranspose", 0) > 0
    diff = report["accepted"]["max_abs_diff_vs_fp32"]
    assert math.isfinite(diff) and diff < 0.5
    assert report["accepted"]["int8_nodes"] == report["accepted"]["weighted_nodes"]


def test_openvino_latency_backends_rows_and_int8_ratios() -> None:
    torch.manual_seed(0)
    models = {"g": create_model("dcgan_generator", nz=16, ngf=8).eval()}
    rows = benchmark_latency(
        models, lambda b: latents(b), batch_sizes=(2,), backends=("onnx", "openvino", "openvino_int8"), threads=1,
        rounds=1, warmup=0, iters=2,
    )  # fmt: skip
    assert [r["backend"] for r in rows] == ["onnx", "openvino", "openvino_int8"]
    assert all(r["note"] is None and r["median_ms"] > 0 and r["file_bytes"] > 0 for r in rows)
    got = {r["backend"]: r for r in add_speedups(rows, {"g": {"macs": 100}}, {})}
    int8, fp32 = got["openvino_int8"], got["onnx"]
    assert int8["int8_speedup_vs_fp32"] == pytest.approx(fp32["median_ms"] / int8["median_ms"])
    assert int8["int8_size_vs_fp32"] == pytest.approx(int8["file_bytes"] / fp32["file_bytes"])
    assert "speedup_vs_dense_fp32" in int8  # None: no dense reference here
    assert "int8_speedup_vs_fp32" not in got["openvino"]  # fp32 rows carry no int8 ratios


def test_missing_openvino_names_the_extra(conv_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now raises ImportError
    with pytest.raises(UserError, match=r"gancompress\[openvino\]"):
        openvino_runner(conv_model, 1)
