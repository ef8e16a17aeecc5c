"""gancompress.export.speed_target: the ratio search for a speed-up (on a fake deterministic latency that the table
mispredicts, so the measured correction must work) and for a MAC fraction (exact) — no timings asserted."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.export.layer_latency import LatencyTable
from gancompress.export.speed_target import find_ratio_for_macs, find_ratio_for_speedup
from gancompress.export.stats import count_macs
from tests.export.nets import conv_net, fake_cost, narrowing

X = (torch.randn(1, 3, 8, 8),)


def real_latency(model: nn.Module) -> float:
    """The "measured" latency: sub-linear in MACs plus a fixed cost, unlike the table's fake per-layer costs — thin
    models speed up less than predicted, as on a real CPU."""
    return 1e-9 * count_macs(model, X) ** 0.9 + 5e-6


def pair_timer(calls: list[float]):
    def time_pair(dense: nn.Module, candidate: nn.Module) -> tuple[float, float]:
        calls.append(1)
        return real_latency(dense), real_latency(candidate)

    return time_pair


@pytest.fixture(scope="module")
def table() -> LatencyTable:
    return LatencyTable.measure(conv_net(), X, timer=fake_cost)


@pytest.mark.parametrize("target", [1.5, 2.0, 3.0])
def test_speedup_search_hits_the_measured_target(table: LatencyTable, target: float) -> None:
    calls: list[float] = []
    build = narrowing()
    res = find_ratio_for_speedup(build, X, target, table=table, timer=pair_timer(calls))
    assert res.met and abs(res.measured_speedup / target - 1) <= 0.15
    assert res.measured_speedup == pytest.approx(real_latency(build(0.0)) / real_latency(build(res.ratio)))
    assert res.measurements == len(calls) <= 4 and res.iterations >= 2
    assert res.predicted_speedup == pytest.approx(table.whole_s / table.predict_model(build(res.ratio)))
    assert res.macs_fraction == pytest.approx(count_macs(build(res.ratio), X) / count_macs(build(0.0), X))
    assert res.latency_s < res.dense_latency_s and 0 < res.ratio < 0.95


def test_a_tight_tolerance_needs_the_correction() -> None:
    calls: list[float] = []
    table = LatencyTable.measure(conv_net(64), X, timer=fake_cost)  # finer width steps than 32 channels
    res = find_ratio_for_speedup(narrowing(64), X, 2.5, table=table, tolerance=0.05, timer=pair_timer(calls))
    assert len(calls) >= 2  # the prediction alone is off by more than 5 % here
    assert res.met and abs(res.measured_speedup / 2.5 - 1) <= 0.05


def test_unreachable_speedup_is_a_user_error_with_the_best_number(table: LatencyTable) -> None:
    best = real_latency(narrowing()(0.0)) / real_latency(narrowing()(0.95))
    with pytest.raises(UserError, match=f"measures {best:.3g}×"):
        find_ratio_for_speedup(narrowing(), X, 1000.0, table=table, timer=pair_timer([]))
    with pytest.raises(UserError, match=">= 1"):
        find_ratio_for_speedup(narrowing(), X, 0.5, table=table, timer=pair_timer([]))
    with pytest.raises(UserError, match="measured for"):
        find_ratio_for_speedup(narrowing(), X, 2.0, table=table, threads=2, timer=pair_timer([]))


@pytest.mark.parametrize("fraction", [0.8, 0.5, 0.3, 0.05])
def test_macs_search_is_exact(fraction: float) -> None:
    build = narrowing()
    dense = count_macs(build(0.0), X)
    res = find_ratio_for_macs(build, X, fraction, resolution=1e-3)
    assert res.macs_fraction == count_macs(build(res.ratio), X) / dense <= fraction
    assert count_macs(build(res.ratio - 1e-3), X) / dense > fraction  # the least pruning that meets it
    assert res.met and res.measurements == 0 and res.measured_speedup is None


def test_macs_edge_cases() -> None:
    assert find_ratio_for_macs(narrowing(), X, 1.0).ratio == 0.0
    with pytest.raises(UserError, match="not reachable"):
        find_ratio_for_macs(narrowing(), X, 0.001)
    with pytest.raises(UserError, match=r"\(0, 1\]"):
        find_ratio_for_macs(narrowing(), X, 1.5)


def test_coarse_widths_time_the_neighbour_when_the_first_model_overshoots() -> None:
    """Widths in steps of 2 (like ``--round-to 8`` on a 32-wide layer): the first candidate measures 5× for a 3×
    target, and the corrected prediction lands on the same model again. The search must then time the next wider
    model (2.7×, within 15 %) instead of stopping at the overshoot."""

    def build(ratio: float) -> nn.Module:
        torch.manual_seed(0)
        return conv_net(8 - 2 * min(3, int(ratio * 4))).eval()

    speed = {8: 1.0, 6: 1.6, 4: 2.7, 2: 5.0}  # measured speed-up per width

    def time_pair(dense: nn.Module, candidate: nn.Module) -> tuple[float, float]:
        calls.append(candidate[0].out_channels)
        return 1.0, 1.0 / speed[candidate[0].out_channels]

    calls: list[int] = []
    table = LatencyTable.measure(conv_net(8), X, timer=fake_cost)
    res = find_ratio_for_speedup(build, X, 3.0, table=table, timer=time_pair)
    assert calls[0] == 2  # the table predicts width 4 below 3×, so the first timing overshoots
    assert calls[-1] == 4 and len(calls) == 2
    assert res.met and res.measured_speedup == pytest.approx(2.7)
    assert build(res.ratio)[0].out_channels == 4
