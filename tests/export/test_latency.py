"""gancompress.export.latency: the latency harness (rows, per-model inputs, failing backends, compile budget, settings),
speed-ups against the dense reference — no timings asserted.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.export.latency import add_speedups, benchmark_latency, compare, thread_contention
from gancompress.models import create_model


def tiny_generator() -> nn.Module:
    torch.manual_seed(0)
    return create_model("dcgan_generator", nz=16, ngf=8, channels=1, image_size=32).eval()


# ------------------------------------------------------------------------------------------------------- compare


def test_compare_and_add_speedups() -> None:
    out = compare({"macs": 400, "median_ms": 10.0}, {"macs": 400, "effective_macs": 100, "median_ms": 4.0})
    assert out == {"ideal_mac_ratio": 4.0, "speedup": 2.5, "measured_over_ideal": 0.625}
    assert compare({"macs": 400}, {"macs": 200})["speedup"] is None
    rows = [
        {"model": "d", "backend": "eager", "batch": 1, "median_ms": 8.0},
        {"model": "p", "backend": "eager", "batch": 1, "median_ms": 2.0},
        {"model": "p", "backend": "onnx", "batch": 1, "median_ms": 1.0},
    ]
    stats = {"d": {"macs": 100, "effective_macs": 100}, "p": {"macs": 25, "effective_macs": 25}}
    got = add_speedups(rows, stats, {"p": "d"})
    assert got[0]["speedup"] is None and got[0]["reference"] is None
    assert got[1]["speedup"] == 4.0 and got[1]["ideal_mac_ratio"] == 4.0 and got[1]["measured_over_ideal"] == 1.0
    assert got[2]["speedup"] is None  # no dense onnx row to compare with


# ------------------------------------------------------------------------------------------------------- latency


def test_benchmark_latency_rows_are_well_formed() -> None:
    backends = ("eager", "onnx") if _has_onnxruntime() else ("eager",)
    models = {"dense": tiny_generator(), "small": create_model("dcgan_generator", nz=16, ngf=4)}
    models["small"].train()
    threads = torch.get_num_threads()
    rows = benchmark_latency(
        models, lambda b: (torch.randn(b, 16),), batch_sizes=(1, 3), backends=backends, threads=1, rounds=1, warmup=1
    )
    assert torch.get_num_threads() == threads and models["small"].training  # state restored
    assert len(rows) == 2 * len(backends) * 2
    assert {(r["model"], r["backend"], r["batch"]) for r in rows} == {
        (m, be, b) for m in models for be in backends for b in (1, 3)
    }
    for r in rows:
        assert set(r) >= {"model", "backend", "batch", "median_ms", "p10_ms", "p90_ms", "iters", "rounds", "note"}
        assert r["note"] is None and r["rounds"] == 1 and r["iters"] >= 1
        assert r["median_ms"] > 0 and r["p10_ms"] <= r["median_ms"] <= r["p90_ms"]


def test_benchmark_latency_per_model_inputs_and_fixed_iters() -> None:
    models = {"a": nn.Linear(4, 2), "b": nn.Linear(6, 2)}
    inputs = {"a": lambda b: (torch.randn(b, 4),), "b": lambda b: (torch.randn(b, 6),)}
    rows = benchmark_latency(models, inputs, batch_sizes=(2,), backends=("eager",), rounds=2, warmup=0, iters=3)
    assert [(r["model"], r["iters"], r["rounds"]) for r in rows] == [("a", 3, 2), ("b", 3, 2)]


def test_benchmark_latency_skips_a_failing_backend_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", broken_compile)
    models = {"m": nn.Linear(4, 4), "n": nn.Linear(4, 4)}
    rows = benchmark_latency(
        models, lambda b: (torch.randn(b, 4),), batch_sizes=(1,), backends=("eager", "compile"), rounds=1, warmup=1
    )
    by_key = {(r["model"], r["backend"]): r for r in rows}
    assert by_key["m", "eager"]["median_ms"] is not None and by_key["m", "eager"]["note"] is None
    assert by_key["m", "compile"]["median_ms"] is None
    assert by_key["m", "compile"]["note"] == "skipped: RuntimeError: no C++ compiler"


def test_benchmark_latency_compile_budget_skips_remaining_models() -> None:
    rows = benchmark_latency(
        {"m": nn.Linear(4, 4)},
        lambda b: (torch.randn(b, 4),),
        batch_sizes=(1,),
        backends=("compile",),
        rounds=1,
        compile_budget_s=-1.0,
    )
    assert rows[0]["median_ms"] is None and "budget" in rows[0]["note"]


def test_benchmark_latency_rejects_bad_settings() -> None:
    with pytest.raises(UserError, match="valid: eager, eager_native, compile, onnx"):
        benchmark_latency({"m": nn.Linear(2, 2)}, lambda b: (torch.randn(b, 2),), backends=("tensorrt",))
    with pytest.raises(UserError, match="rounds"):
        benchmark_latency({"m": nn.Linear(2, 2)}, lambda b: (torch.randn(b, 2),), rounds=0)


def _has_onnxruntime() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def test_thread_contention_is_a_positive_ratio_and_restores_threads() -> None:
    threads = torch.get_num_threads()
    assert thread_contention(2, calls=2) > 0
    assert torch.get_num_threads() == threads


def test_eager_native_backend_matches_eager() -> None:
    """The no-oneDNN backend runs the same model: outputs agree to float rounding."""
    from gancompress.export.latency import _runner

    g = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 1, 4, 2, 1, bias=False), torch.nn.Tanh()).eval()
    x = (torch.randn(4, 8, 8, 8),)
    with torch.inference_mode():
        a = _runner(g, "eager", 1, None, x)(x)
        b = _runner(g, "eager_native", 1, None, x)(x)
    assert torch.allclose(a, b, atol=1e-5)


def test_onnx_int8_backend_reports_file_sizes_and_ratios_to_fp32() -> None:
    pytest.importorskip("onnxruntime")
    models = {"dense": tiny_generator(), "small": create_model("dcgan_generator", nz=16, ngf=4, image_size=32).eval()}
    rows = benchmark_latency(
        models, lambda b: (torch.randn(b, 16),), batch_sizes=(2,), backends=("onnx", "onnx_int8"), threads=1,
        rounds=1, warmup=0,
    )  # fmt: skip
    by = {(r["model"], r["backend"]): r for r in rows}
    assert all(r["note"] is None and r["median_ms"] > 0 for r in rows)
    # the int8 file (ConvTranspose rewritten: its kernels carry zeros) is still well under the fp32 file
    assert by["dense", "onnx_int8"]["file_bytes"] < 0.6 * by["dense", "onnx"]["file_bytes"]
    stats = {"dense": {"macs": 100}, "small": {"macs": 25}}
    got = {(r["model"], r["backend"]): r for r in add_speedups(rows, stats, {"small": "dense"})}
    int8 = got["small", "onnx_int8"]
    fp32_ms, dense_ms = got["small", "onnx"]["median_ms"], got["dense", "onnx"]["median_ms"]
    assert int8["int8_speedup_vs_fp32"] == pytest.approx(fp32_ms / int8["median_ms"])
    assert int8["speedup_vs_dense_fp32"] == pytest.approx(dense_ms / int8["median_ms"])
    assert int8["int8_size_vs_fp32"] == pytest.approx(int8["file_bytes"] / got["small", "onnx"]["file_bytes"])
    assert "int8_speedup_vs_fp32" not in got["small", "onnx"]  # fp32 rows carry no int8 ratios
