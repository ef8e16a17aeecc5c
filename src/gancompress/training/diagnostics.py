"""Discriminator health during training — the paper's App. A.1 evidence made visible.

The paper observed that for some baselines (Table 1 rows h, m) G and D losses converge like healthy training while
the images are bad (a *false positive*), and that a discriminator trained from scratch falls into a **low-entropy
solution → mode collapse**. So besides the loss terms the loop logs, per log step:

- ``diag/d_real`` / ``diag/d_fake``: D's mean probability of "real" on real data and on g_comp's fakes;
- ``diag/d_acc``: D's accuracy at telling them apart (threshold 0.5);
- ``diag/d_entropy``: mean binary entropy (bits) of D's output on fakes — near 0 means D is certain about every
  fake (the low-entropy solution), 1 means maximally unsure;
- ``diag/grad_g`` / ``diag/grad_d``: global gradient norms;
- periodically ``diag/class_coverage`` of samples (with the domain classifier), when an evaluator is available.

:class:`CollapseMonitor` raises a logged warning with the step when the entropy collapses (logit D), the critic's
real − fake gap widens far beyond G_O's (critic D: WGAN-GP, LSGAN, hinge), or the class coverage drops.

Example:
    >>> import torch
    >>> h = d_health(torch.tensor([3.0, 2.0]), torch.tensor([-3.0, -2.0]))
    >>> h["diag/d_acc"]
    1.0
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from gancompress.families.contract import draw_batch
from gancompress.methods.frozen import side_effect_free

log = logging.getLogger(__name__)


def _binary_entropy_bits(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-7, 1 - 1e-7)
    return -(p * torch.log2(p) + (1 - p) * torch.log2(1 - p))


def d_health(real_scores: torch.Tensor, fake_scores: torch.Tensor, kind: str = "logit") -> dict[str, float]:
    """Summary of D's raw per-sample outputs on real and fake images.

    Args:
        real_scores: D's raw output on real images, shape (B,).
        fake_scores: D's raw output on generated images, shape (B,).
        kind: ``"logit"`` (sigmoid gives P(real); entropy defined) or ``"critic"`` (WGAN: unbounded scores; accuracy
            uses the midpoint between the two means, entropy is not reported).
    """
    real = real_scores.detach().double().flatten()
    fake = fake_scores.detach().double().flatten()
    out: dict[str, float] = {}
    if kind == "logit":
        p_real, p_fake = torch.sigmoid(real), torch.sigmoid(fake)
        out["diag/d_real"] = float(p_real.mean())
        out["diag/d_fake"] = float(p_fake.mean())
        correct = torch.cat([p_real > 0.5, p_fake <= 0.5]).double()
        out["diag/d_entropy"] = float(_binary_entropy_bits(p_fake).mean())
    elif kind == "critic":
        out["diag/d_real"] = float(real.mean())
        out["diag/d_fake"] = float(fake.mean())
        mid = (real.mean() + fake.mean()) / 2
        correct = torch.cat([real > mid, fake <= mid]).double()
    else:
        raise ValueError(f"unknown score kind {kind!r}; valid values: logit, critic")
    out["diag/d_acc"] = float(correct.mean())
    return out


def grad_norm(params: Iterable[torch.nn.Parameter]) -> float:
    """Global L2 norm of the gradients currently stored on ``params`` (0 if none)."""
    total = 0.0
    for p in params:
        if p.grad is not None:
            total += float(p.grad.detach().double().pow(2).sum())
    return math.sqrt(total)


def critic_gap(row: dict[str, float]) -> float | None:
    """D's mean score on real minus on fake images in a logged row (critic discriminators' health signal)."""
    real, fake = row.get("diag/d_real"), row.get("diag/d_fake")
    if real is None or fake is None or not (math.isfinite(real) and math.isfinite(fake)):
        return None
    return real - fake


@dataclass
class CollapseMonitor:
    """Warns (once per kind, with the step) when D's health or the samples' class coverage collapses.

    - **Entropy** (logit discriminators): the rolling median of the last ``patience`` readings (one batch each, so
      single readings are noisy) is below ``entropy_floor`` bits and below ``entropy_fraction`` × the reference.
    - **Critic gap** (WGAN / LSGAN / hinge discriminators, no entropy): the rolling median of D's real − fake score
      gap exceeds ``gap_ratio`` × the reference gap and is still rising (above the median of the readings before).
      Only with a ``baseline``: from random init the gap grows as D learns, which is healthy.
    - **Coverage**: class coverage under ``coverage_fraction`` × its first reading.

    The reference is ``baseline`` — D's health on G_O's fakes measured before a compression run starts
    (``api.compress``) — or, without one, the median of the first ``warmup`` readings. ``expected_rows`` (the
    number of rows the run will log) shortens ``warmup`` and ``patience`` so that a short run — a quick profile logs 6
    rows — can still raise an alarm: both become a quarter of the rows, within [1, 10] and [2, 5].
    """

    entropy_fraction: float = 0.25
    entropy_floor: float = 0.15
    coverage_fraction: float = 0.7
    gap_ratio: float = 3.0
    warmup: int = 10
    patience: int = 5
    baseline: dict[str, float] | None = None
    expected_rows: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    _entropy: list[float] = field(default_factory=list)
    _gap: list[float] = field(default_factory=list)
    _coverage0: float | None = None

    def __post_init__(self) -> None:
        if self.expected_rows is not None:
            quarter = self.expected_rows // 4
            self.warmup = max(1, min(self.warmup, quarter))
            self.patience = max(2, min(self.patience, quarter))

    def _reference(self, readings: list[float], key: str) -> float | None:
        if self.baseline is not None and self.baseline.get(key) is not None:
            return float(self.baseline[key])
        if len(readings) < self.warmup + self.patience:
            return None
        return statistics.median(readings[: self.warmup])

    def update(self, step: int, row: dict[str, float]) -> list[dict[str, Any]]:
        """Feed one logged row; returns (and logs) the new alarms."""
        new: list[dict[str, Any]] = []
        ent = row.get("diag/d_entropy")
        if ent is not None and math.isfinite(ent):
            self._entropy.append(ent)
            base = self._reference(self._entropy, "diag/d_entropy")
            if base is not None and len(self._entropy) >= self.patience:
                recent = statistics.median(self._entropy[-self.patience :])
                if recent < self.entropy_floor and recent < self.entropy_fraction * base:
                    new.append({"step": step, "kind": "d_entropy_collapse", "value": recent, "baseline": base})
        gap = critic_gap(row) if ent is None else None
        if gap is not None and self.baseline is not None:
            self._gap.append(gap)
            base = self.baseline.get("gap")
            if base is not None and base > 0 and len(self._gap) >= self.patience:
                recent = statistics.median(self._gap[-self.patience :])
                before = self._gap[: -self.patience]
                rising = not before or recent > statistics.median(before)
                if recent > self.gap_ratio * base and rising:
                    new.append({"step": step, "kind": "critic_gap_growth", "value": recent, "baseline": base})
        cov = row.get("diag/class_coverage")
        if cov is not None and math.isfinite(cov):
            if self._coverage0 is None:
                self._coverage0 = cov
            elif cov < self.coverage_fraction * self._coverage0:
                new.append({"step": step, "kind": "class_coverage_drop", "value": cov, "baseline": self._coverage0})
        seen = {e["kind"] for e in self.events}
        new = [e for e in new if e["kind"] not in seen]
        for e in new:
            log.warning(
                "possible mode collapse at step %d: %s = %.3g (reference %.3g)",
                e["step"],
                e["kind"],
                e["value"],
                e["baseline"],
            )
        self.events.extend(new)
        return new

    @property
    def flags(self) -> list[str]:
        return sorted({e["kind"] for e in self.events})


def health_baseline(
    loss: Any, g: torch.nn.Module, d: torch.nn.Module, data: Any, *, batch_size: int, batches: int = 4, seed: int = 0
) -> dict[str, float]:
    """D's health (diagnostics.d_health, averaged over ``batches`` batches) on ``g``'s fakes vs ``data``'s real
    images, in the train mode the loop uses and without side effects: the reference a compression run's collapse
    monitor compares its readings with (D_O judging G_O is where teacher training ended). ``gap`` = real − fake."""
    gen = torch.Generator().manual_seed(seed)
    device = next(g.parameters()).device
    n = min(batch_size, len(data))
    rows: list[dict[str, float]] = []
    with side_effect_free(g, d):
        g_mode, d_mode = g.training, d.training
        g.train()
        d.train()
        try:
            for _ in range(batches):
                batch = draw_batch(data, n, gen, device)
                fake = g(*loss.generator_input(batch))
                real = loss.discriminator_scores(d, loss.real_data(batch), batch)
                rows.append(d_health(real, loss.discriminator_scores(d, fake, batch), kind=loss.score_kind))
        finally:
            g.train(g_mode)
            d.train(d_mode)
    out = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
    out["gap"] = out["diag/d_real"] - out["diag/d_fake"]
    return out
