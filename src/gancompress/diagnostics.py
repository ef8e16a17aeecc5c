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

:class:`CollapseMonitor` raises a logged warning with the step when the entropy collapses or the class coverage drops.

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


@dataclass
class CollapseMonitor:
    """Warns (once per kind, with the step) when D's fake-output entropy or the samples' class coverage collapses.

    Entropy alarm: the rolling median of the last ``patience`` readings (one batch each, so single readings are
    noisy) is below ``entropy_floor`` bits and below ``entropy_fraction`` × the median of the first ``warmup``
    readings. Coverage alarm: coverage under ``coverage_fraction`` × its first reading.
    """

    entropy_fraction: float = 0.25
    entropy_floor: float = 0.15
    coverage_fraction: float = 0.7
    warmup: int = 10
    patience: int = 5
    events: list[dict[str, Any]] = field(default_factory=list)
    _entropy: list[float] = field(default_factory=list)
    _coverage0: float | None = None

    def update(self, step: int, row: dict[str, float]) -> list[dict[str, Any]]:
        """Feed one logged row; returns (and logs) the new alarms."""
        new: list[dict[str, Any]] = []
        ent = row.get("diag/d_entropy")
        if ent is not None and math.isfinite(ent):
            self._entropy.append(ent)
            if len(self._entropy) >= self.warmup + self.patience:
                base = statistics.median(self._entropy[: self.warmup])
                recent = statistics.median(self._entropy[-self.patience :])
                if recent < self.entropy_floor and recent < self.entropy_fraction * base:
                    new.append({"step": step, "kind": "d_entropy_collapse", "value": recent, "baseline": base})
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
                "possible mode collapse at step %d: %s = %.3g (baseline %.3g)",
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
