"""Choose a pruning ratio for a requested speed-up (measured on this machine) or a requested fraction of dense MACs.

docs/deploy.md "Latency table and speed targets". ``build(ratio)`` returns a physically smaller model for a pruning
ratio in [0, 1) (more ratio, fewer channels). :func:`find_ratio_for_speedup` bisects the ratio on a
:class:`~gancompress.export.layer_latency.LatencyTable`'s prediction (no timing per candidate), then times the real
model against the dense one (interleaved rounds, :func:`~gancompress.export.latency.benchmark_latency`) and corrects:
the prediction's measured error, interpolated between the timed ratios, corrects it (a secant step inside the
bracket of timed ratios), at most ``max_measurements`` timings.
:func:`find_ratio_for_macs` bisects exact MAC counts instead (no timing).

Example:
    >>> import torch
    >>> net = lambda w: nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, 3, 3, padding=1))
    >>> build = lambda ratio: net(max(1, round(32 * (1 - ratio))))
    >>> res = find_ratio_for_macs(build, (torch.randn(1, 3, 8, 8),), 0.5)
    >>> res.macs_fraction, round(32 * (1 - res.ratio))  # half the MACs: 16 of 32 channels
    (0.5, 16)
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from torch import Tensor, nn

from gancompress.config import PruneCfg
from gancompress.errors import UserError
from gancompress.export.latency import benchmark_latency
from gancompress.export.layer_latency import LatencyTable, layer_widths
from gancompress.export.stats import count_macs
from gancompress.pruning.channel_masks import ChannelMaskSet

log = logging.getLogger(__name__)

#: (dense, candidate) -> (dense seconds, candidate seconds), timed side by side
PairTimer = Callable[[nn.Module, nn.Module], tuple[float, float]]
HARNESS_BACKEND = {"eager": "eager", "onnxruntime": "onnx"}  # table backend → benchmark_latency backend


@dataclass(frozen=True)
class RatioSearch:
    """A chosen pruning ratio and what it gives.

    ``predicted_speedup`` / ``measured_speedup`` / latencies are ``None`` for a MAC target; ``iterations`` counts the
    models built, ``measurements`` the real timings; ``met`` says whether the target holds (a measured speed-up
    within the tolerance, or MACs at most the requested fraction).
    """

    ratio: float
    target: float
    predicted_speedup: float | None
    measured_speedup: float | None
    macs_fraction: float
    dense_latency_s: float | None
    latency_s: float | None
    iterations: int
    measurements: int
    met: bool


class _Models:
    """``build`` with a cache (building may mean pruning a real generator) and per-ratio MAC fractions."""

    def __init__(self, build: Callable[[float], nn.Module], inputs: tuple[Tensor, ...]) -> None:
        self.build, self.inputs, self.cache = build, inputs, {}
        self.dense = self(0.0)
        self.dense_macs = count_macs(self.dense, inputs)

    def __call__(self, ratio: float) -> nn.Module:
        ratio = round(ratio, 6)
        if ratio not in self.cache:
            self.cache[ratio] = self.build(ratio).eval()
        return self.cache[ratio]

    def macs_fraction(self, ratio: float) -> float:
        return count_macs(self(ratio), self.inputs) / self.dense_macs


def _check(max_ratio: float) -> None:
    if not 0 < max_ratio < 1:
        raise UserError(f"max_ratio must be in (0, 1), got {max_ratio}")


def find_ratio_for_macs(
    build: Callable[[float], nn.Module],
    example_inputs: Sequence[Tensor],
    fraction: float,
    *,
    max_ratio: float = 0.95,
    resolution: float = 1e-3,
) -> RatioSearch:
    """The smallest ratio (to ``resolution``) whose model has at most ``fraction`` of the dense model's MACs.

    Args:
        build: ``ratio -> model``; ``build(0.0)`` is the dense model.
        example_inputs: One sample's inputs (MACs per sample).
        fraction: Target MACs / dense MACs in (0, 1].
        max_ratio: Largest ratio tried.
        resolution: Bisection stops when the ratio bracket is this narrow.

    Raises:
        UserError: ``fraction`` outside (0, 1], or not reached at ``max_ratio`` (the message gives what is).
    """
    _check(max_ratio)
    if not 0 < fraction <= 1:
        raise UserError(f"target MAC fraction must be in (0, 1], got {fraction}")
    models = _Models(build, tuple(example_inputs))
    lo, hi = 0.0, max_ratio
    if models.macs_fraction(hi) > fraction:
        raise UserError(
            f"MAC target {fraction:.3g} of dense is not reachable: ratio {max_ratio:g} keeps "
            f"{models.macs_fraction(hi):.3g} of the dense MACs"
        )
    if models.macs_fraction(lo) <= fraction:
        hi = lo
    while hi - lo > resolution:
        mid = (lo + hi) / 2
        if models.macs_fraction(mid) <= fraction:
            hi = mid
        else:
            lo = mid
    got = models.macs_fraction(hi)
    log.info("MAC target %.3g: ratio %.4f keeps %.4f of the dense MACs", fraction, hi, got)
    return RatioSearch(hi, fraction, None, None, got, None, None, len(models.cache), 0, True)


def find_ratio_for_speedup(
    build: Callable[[float], nn.Module],
    example_inputs: Sequence[Tensor],
    speedup: float,
    *,
    table: LatencyTable | None = None,
    backend: str = "eager",
    threads: int = 1,
    batch: int = 1,
    tolerance: float = 0.15,
    max_measurements: int = 4,
    max_ratio: float = 0.95,
    rounds: int = 7,
    timer: PairTimer | None = None,
) -> RatioSearch:
    """A ratio whose **measured** speed-up over the dense model is within ``tolerance`` of ``speedup``.

    Args:
        build: ``ratio -> model`` (physically smaller, same layer names); ``build(0.0)`` is the dense model.
        example_inputs: Inputs for ``model(*example_inputs)`` (the first sample is repeated to ``batch``).
        speedup: Requested dense latency / pruned latency (≥ 1).
        table: The dense model's latency table for ``backend`` / ``threads`` / ``batch``; measured when ``None``.
        backend: ``eager`` or ``onnxruntime``.
        threads: CPU threads of every timing.
        batch: Batch size of every timing.
        tolerance: Accepted relative error of the measured speed-up.
        max_measurements: Real timings at most (each times dense and candidate side by side).
        max_ratio: Largest ratio tried.
        rounds: Interleaved rounds per timing (medians).
        timer: ``(dense, candidate) -> (seconds, seconds)`` replacing the real timing (tests).

    Returns:
        The ratio measured closest to the target (``met`` False when ``max_measurements`` ran out first).

    Raises:
        UserError: ``speedup`` < 1, a table of another key, or a target beyond what ``max_ratio`` measures.

    Example:
        >>> res = find_ratio_for_speedup(build, (z,), 2.0, backend="onnxruntime", threads=2)  # doctest: +SKIP
        >>> res.ratio, res.measured_speedup  # doctest: +SKIP
        (0.34, 2.07)
    """
    _check(max_ratio)
    if not speedup >= 1:
        raise UserError(f"target speed-up must be >= 1, got {speedup}")
    inputs = tuple(example_inputs)
    models = _Models(build, tuple(t[:1] for t in inputs))
    if table is None:
        table = LatencyTable.measure(models.dense, inputs, backend=backend, threads=threads, batch=batch)
    key = {"backend": backend, "threads": threads, "batch": batch}
    if {k: table.key.get(k) for k in key} != key:
        raise UserError(f"the latency table was measured for {table.key}, not {key}")
    time_pair = timer or _harness_timer(inputs, backend, threads, batch, rounds)

    def predicted(ratio: float) -> float:
        return table.whole_s / table.predict_model(models(ratio))

    measured: dict[float, tuple[float, float]] = {}  # ratio -> (dense s, candidate s)
    # DECISION: correct the table by its measured error, log(predicted / measured), interpolated linearly in the
    # ratio between the timed ratios (0 at ratio 0, where both are 1×; extrapolated past the last): one timing
    # rescales the prediction, two or more make it a secant step that keeps the table's shape in between
    error = {0.0: 0.0}

    def corrected(ratio: float) -> float:
        rs = sorted(error)
        if ratio > rs[-1] and len(rs) > 1:
            (r0, e0), (r1, e1) = (rs[-2], error[rs[-2]]), (rs[-1], error[rs[-1]])
            err = e1 + (e1 - e0) * (ratio - r1) / (r1 - r0)
        else:
            err = float(np.interp(ratio, rs, [error[r] for r in rs]))
        return math.log(predicted(ratio)) - err

    def solve(lo: float, hi: float) -> float:
        """The smallest ratio in [lo, hi] whose corrected prediction reaches the target (``hi`` if none), to 1e-3."""
        goal = math.log(speedup)
        if corrected(hi) < goal:
            return hi
        while hi - lo > 1e-3:
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if corrected(mid) >= goal else (mid, hi)
        return hi

    def timed_as(ratio: float) -> float | None:
        """The timed ratio whose model has ``ratio``'s widths, if any."""
        widths = layer_widths(models(ratio))
        return next((r for r in measured if layer_widths(models(r)) == widths), None)

    def neighbour(ratio: float, toward: float) -> float:
        """The ratio nearest ``ratio``, on the side of ``toward``, whose model has other widths (to 1e-3)."""
        widths, inside, outside = layer_widths(models(ratio)), ratio, toward
        if layer_widths(models(toward)) == widths:
            return ratio
        while abs(outside - inside) > 1e-3:
            mid = (inside + outside) / 2
            inside, outside = (mid, outside) if layer_widths(models(mid)) == widths else (inside, mid)
        return outside

    below, above = 0.0, max_ratio  # bracket: measured below the target at `below`, above it at `above` once timed
    for _ in range(max_measurements):
        ratio = solve(below, above)
        last = timed_as(ratio)
        if last is not None:
            # The bracket closed to one model: widths are discrete (round_to), and the corrected prediction keeps
            # choosing a model already timed. Time its neighbour on the target's side, so a 3.5x overshoot of a 3x
            # request is compared with the next wider model instead of being returned unchallenged.
            over = measured[last][0] / measured[last][1] > speedup
            ratio = neighbour(last, below if over else above)
            if timed_as(ratio) is not None:
                break
        dense_s, cand_s = time_pair(models.dense, models(ratio))
        measured[ratio] = (dense_s, cand_s)
        got = dense_s / cand_s
        error[ratio] = math.log(predicted(ratio) / got)
        log.info("speed target %.3g×: ratio %.4f predicted %.3g× measured %.3g×", speedup, ratio, predicted(ratio), got)
        if abs(got / speedup - 1) <= tolerance:
            break
        if got > speedup:
            above = ratio
        elif ratio >= max_ratio:
            raise UserError(
                f"speed-up {speedup:g}× is not reachable on {backend} ({threads} threads, batch {batch}): "
                f"ratio {max_ratio:g} measures {got:.3g}× (predicted {predicted(ratio):.3g}×)"
            )
        else:
            below = ratio
    best = min(measured, key=lambda r: abs(math.log(measured[r][0] / measured[r][1] / speedup)))
    dense_s, cand_s = measured[best]
    met = abs(dense_s / cand_s / speedup - 1) <= tolerance
    if not met:
        log.warning("speed target %.3g× not met in %d timings: best ratio %.4f measures %.3g×", speedup,
                    len(measured), best, dense_s / cand_s)  # fmt: skip
    return RatioSearch(
        best, speedup, predicted(best), dense_s / cand_s, models.macs_fraction(best), dense_s, cand_s,
        len(models.cache), len(measured), met,
    )  # fmt: skip


def _harness_timer(inputs: tuple[Tensor, ...], backend: str, threads: int, batch: int, rounds: int) -> PairTimer:
    """Dense and candidate timed in interleaved rounds by the benchmark harness (medians, fixed threads)."""

    def make_inputs(b: int) -> tuple[Tensor, ...]:
        return tuple(t[:1].repeat(b, *([1] * (t.dim() - 1))) for t in inputs)

    def time_pair(dense: nn.Module, candidate: nn.Module) -> tuple[float, float]:
        rows = benchmark_latency(
            {"dense": dense, "candidate": candidate}, make_inputs, batch_sizes=(batch,),
            backends=(HARNESS_BACKEND[backend],), threads=threads, rounds=rounds,
        )  # fmt: skip
        ms = {r["model"]: r["median_ms"] for r in rows}
        if ms["dense"] is None or ms["candidate"] is None:
            raise UserError(f"could not time the models on {backend}: {rows[0]['note'] or rows[1]['note']}")
        return ms["dense"] / 1e3, ms["candidate"] / 1e3

    return time_pair


def speed_search(g_orig: nn.Module, prune: PruneCfg, example_inputs: Sequence[Tensor]) -> RatioSearch:
    """The channel ratio of ``prune.target_speedup`` for ``g_orig``, measured with ``prune``'s backend, threads and
    batch (group-aware channel selection: :class:`~gancompress.pruning.channel_masks.ChannelMaskSet`)."""
    if prune.target_speedup is None:
        raise UserError("speed_search needs prune.target_speedup")
    g = copy.deepcopy(g_orig).cpu().eval()
    example = tuple(t.cpu() for t in example_inputs)
    masks = ChannelMaskSet.attach(g, exclude=prune.exclude, example_inputs=example, round_to=prune.round_to)
    masks.configure(scope=prune.scope)
    importance = prune.importance if prune.importance != "taylor" else "l2"  # no gradients before training
    res = find_ratio_for_speedup(
        masks.builder(importance), example, prune.target_speedup, backend=prune.speed_backend,
        threads=prune.speed_threads, batch=prune.speed_batch,
    )  # fmt: skip
    log.info(
        "target speed-up %.2f× (%s, %d thread(s), batch %d): channel ratio %.3f, measured %.2f×, %.1f%% of the MACs",
        prune.target_speedup, prune.speed_backend, prune.speed_threads, prune.speed_batch, res.ratio,
        res.measured_speedup or float("nan"), 100 * res.macs_fraction,
    )  # fmt: skip
    return res


def measured_speedup(
    dense: nn.Module,
    small: nn.Module,
    example_inputs: Sequence[Tensor],
    *,
    backend: str,
    threads: int,
    batch: int,
    rounds: int = 7,
) -> dict[str, float]:
    """Dense and ``small`` timed side by side (interleaved rounds): ``{dense_ms, ms, speedup}``."""
    one = tuple(t[:1].cpu() for t in example_inputs)

    def make_inputs(b: int) -> tuple[Tensor, ...]:
        return tuple(t.repeat(b, *([1] * (t.dim() - 1))) for t in one)

    rows = benchmark_latency(
        {"dense": dense.cpu().eval(), "small": small.cpu().eval()}, make_inputs, batch_sizes=(batch,),
        backends=(HARNESS_BACKEND[backend],), threads=threads, rounds=rounds,
    )  # fmt: skip
    ms = {r["model"]: r["median_ms"] for r in rows}
    return {"dense_ms": ms["dense"], "ms": ms["small"], "speedup": round(ms["dense"] / ms["small"], 3)}
