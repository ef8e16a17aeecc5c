"""Unit tests for gancompress.deploy and .latency: MACs, sizes, ONNX export parity, latency harness (no timings)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.deploy import (
    ParityError,
    count_macs,
    effective_macs,
    export_onnx,
    is_filter_structured,
    layer_macs,
    model_size_bytes,
    model_stats,
)
from gancompress.errors import UserError
from gancompress.latency import add_speedups, benchmark_latency, compare, thread_contention
from gancompress.models import create_model
from gancompress.pruning import MaskSet


def tiny_generator() -> nn.Module:
    torch.manual_seed(0)
    return create_model("dcgan_generator", nz=16, ngf=8, channels=1, image_size=32).eval()


# ------------------------------------------------------------------------------------------------------ MACs
@pytest.mark.parametrize(
    ("layer", "shape", "expected"),
    [
        # Conv2d: output elements × in/groups × kH × kW
        (nn.Conv2d(3, 8, 3, padding=1), (2, 3, 5, 5), 2 * 8 * 5 * 5 * 3 * 9),
        (nn.Conv2d(3, 8, 3, stride=2), (1, 3, 7, 7), 8 * 3 * 3 * 3 * 9),
        (nn.Conv2d(4, 8, (3, 1), groups=2), (1, 4, 6, 6), 8 * 4 * 6 * 2 * 3),
        # ConvTranspose2d: input elements × out/groups × kH × kW
        (nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1), (1, 4, 5, 5), 4 * 25 * 6 * 16),
        (nn.ConvTranspose2d(16, 32, 4, 1, 0, bias=False), (3, 16, 1, 1), 3 * 16 * 32 * 16),
        (nn.ConvTranspose2d(4, 6, 3, groups=2), (1, 4, 3, 3), 4 * 9 * 3 * 9),
        # Linear: output elements × in_features (leading dims included)
        (nn.Linear(10, 7), (3, 10), 3 * 7 * 10),
        (nn.Linear(10, 7, bias=False), (2, 5, 10), 2 * 5 * 7 * 10),
    ],
)
def test_count_macs_single_layers(layer: nn.Module, shape: tuple[int, ...], expected: int) -> None:
    assert count_macs(layer, (torch.randn(shape),)) == expected


def test_count_macs_dcgan_generator_by_hand() -> None:
    g = tiny_generator()  # widths 16 → 32 → 16 → 8 → 1 on 1 → 4 → 8 → 16 → 32 px, kernel 4×4
    per_sample = 16 * 1 * 32 * 16 + 32 * 16 * 16 * 16 + 16 * 64 * 8 * 16 + 8 * 256 * 1 * 16
    assert count_macs(g, (torch.randn(1, 16),)) == per_sample == 303104
    assert count_macs(g, (torch.randn(5, 16),)) == 5 * per_sample
    assert [r["name"] for r in layer_macs(g, (torch.randn(1, 16),))] == ["net.0", "net.3", "net.6", "net.9"]


def test_count_macs_restores_training_mode_and_removes_hooks() -> None:
    g = tiny_generator().train()
    count_macs(g, (torch.randn(1, 16),))  # BatchNorm at batch 1 needs eval mode inside
    assert all(m.training for m in g.modules())
    assert not any(m._forward_hooks for m in g.modules())


def test_effective_macs_with_half_masked_layer() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    x = (torch.randn(1, 2, 6, 6),)
    macs0, macs2 = 4 * 36 * 2 * 9, 4 * 36 * 4 * 9
    assert count_macs(net, x) == macs0 + macs2
    assert effective_macs(net, x) == macs0 + macs2  # dense weights: nothing to skip
    MaskSet.attach(net, exclude=("2",), granularity="element").update(0.5)
    assert effective_macs(net, x) == macs0 // 2 + macs2
    assert count_macs(net, x) == macs0 + macs2  # dense MACs do not change with masks


def test_effective_macs_reads_the_mask_even_if_weights_are_not_zeroed() -> None:
    lin = nn.Linear(4, 4, bias=False)
    mask = torch.ones(4, 4)
    mask[:, :3] = 0
    lin.register_buffer("weight_mask", mask)
    assert effective_macs(lin, (torch.randn(2, 4),)) == 2 * 4 * 4 // 4


def test_model_size_and_stats() -> None:
    g = tiny_generator()
    raw = sum(t.numel() * t.element_size() for t in g.state_dict().values())
    assert raw <= model_size_bytes(g) <= raw + 8192  # tensors + safetensors header
    stats = model_stats(g, (torch.randn(1, 16),))
    assert set(stats) == {"params", "nonzero", "macs", "effective_macs", "size_bytes"}
    assert stats["macs"] == 303104 and stats["params"] == sum(p.numel() for p in g.parameters())
    MaskSet.attach(g, granularity="element").update(0.5)
    masked = model_stats(g, (torch.randn(1, 16),))
    assert masked["params"] == stats["params"] and masked["nonzero"] < stats["nonzero"]
    assert masked["effective_macs"] == pytest.approx(stats["macs"] / 2, rel=1e-6)
    # the saved artifact: 50 % element-sparse weights packed (bits + kept values), no larger than the dense file
    assert masked["size_bytes"] < 0.6 * stats["size_bytes"]


def test_is_filter_structured() -> None:
    g = tiny_generator()
    assert not is_filter_structured(g)  # no masks
    MaskSet.attach(g, granularity="element").update(0.5)
    assert not is_filter_structured(g)
    pytest.importorskip("torch_pruning")  # filter masks trace coupled norms (pruning/physical.py)
    g = tiny_generator()
    MaskSet.attach(g, granularity="filter", exclude=("net.9",)).update(0.5)
    assert is_filter_structured(g)


# ------------------------------------------------------------------------------------------------------ compare
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


# ------------------------------------------------------------------------------------------------------ ONNX
def test_export_onnx_parity_on_tiny_dcgan(tmp_path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    g = tiny_generator()
    MaskSet.attach(g, granularity="element").update(0.5)
    res = export_onnx(g, (torch.randn(3, 16),), tmp_path / "g.onnx")
    assert res["max_abs_diff"] <= 1e-4
    assert res["size_bytes"] == (tmp_path / "g.onnx").stat().st_size > 0
    assert res["opset"] == 17 and res["inputs"] == ["input"]
    assert not g.training


def test_export_onnx_bakes_in_spectral_norm_and_leaves_the_model_alone(tmp_path) -> None:
    """The exporter lacks spectral norm's aten::vdot: the eval-mode weight is exported as a constant instead."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from torch.nn.utils import parametrize
    from torch.nn.utils.parametrizations import spectral_norm

    torch.manual_seed(0)
    g = nn.Sequential(spectral_norm(nn.Conv2d(3, 4, 3)), nn.ReLU(), spectral_norm(nn.Conv2d(4, 3, 1)))
    g(torch.randn(2, 3, 8, 8))  # a training-mode step of the power iteration
    res = export_onnx(g, (torch.randn(2, 3, 8, 8),), tmp_path / "sn.onnx")
    assert res["max_abs_diff"] < 1e-4
    assert parametrize.is_parametrized(g[0]) and g.training  # the user's model keeps its parametrization and mode
    assert g(torch.randn(1, 3, 8, 8)).shape == (1, 3, 6, 6)


def test_export_onnx_parity_failure_reports_the_number(tmp_path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    with pytest.raises(ParityError, match=r"max abs difference vs PyTorch \S+ > tolerance -1"):
        export_onnx(tiny_generator(), (torch.randn(2, 16),), tmp_path / "g.onnx", atol=-1.0)


# ------------------------------------------------------------------------------------------------------ latency
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
    from gancompress.latency import _runner

    g = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 1, 4, 2, 1, bias=False), torch.nn.Tanh()).eval()
    x = (torch.randn(4, 8, 8, 8),)
    with torch.inference_mode():
        a = _runner(g, "eager", 1, None, x)(x)
        b = _runner(g, "eager_native", 1, None, x)(x)
    assert torch.allclose(a, b, atol=1e-5)


def test_physical_export_names_the_skip_when_nothing_was_removed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Filters were pruned but their coupling could not be shrunk (a grouped conv): the warning says that, not
    "prune with --granularity filter" (found by an architecture probe)."""
    import logging

    from gancompress import cli_deploy
    from gancompress.pruning import physical

    g = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1))
    report = {"removed": {}, "skipped": {"0": "grouped convolution '1' (groups=2) is unsupported"}}
    monkeypatch.setattr(physical, "remove_pruned_channels", lambda m, inputs: (m, report))
    with caplog.at_level(logging.WARNING, logger="gancompress"):
        cli_deploy._physical(g, lambda n: (torch.randn(n, 1, 4, 4),))
    assert "1 pruned layer(s) skipped, e.g. 0: grouped convolution" in caplog.text
    assert "prune with --granularity filter" not in caplog.text


def test_a_missing_onnx_package_is_named_with_its_install() -> None:
    from gancompress.latency import _why

    missing = ModuleNotFoundError("No module named 'onnx'", name="onnx")
    assert _why(missing) == "onnx is not installed (pip install 'gancompress[export]')"
    assert _why(RuntimeError("boom\nmore")) == "RuntimeError: boom"
