"""Sparsity schedules: the target sparsity at each compression step and when to recompute masks.

Steps are 0-indexed: a run of ``total_steps`` optimizer steps visits ``0 … total_steps - 1``.

Example:
    >>> from gancompress.config import PruneCfg
    >>> cfg = PruneCfg(sparsity=0.5, initial_sparsity=0.05, ramp_fraction=0.5)
    >>> sparsity_at(cfg, 0, 100), sparsity_at(cfg, 50, 100)
    (0.05, 0.5)
"""

from __future__ import annotations

import math

from gancompress.config import PruneCfg
from gancompress.registry import Registry


def _validate(step: int, total_steps: int) -> None:
    if int(total_steps) < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if int(step) < 0:
        raise ValueError(f"step must be >= 0, got {step}")


def ramp_steps(cfg: PruneCfg, total_steps: int) -> int:
    """T, the step at which AGP reaches the final sparsity: ``ceil(ramp_fraction * total_steps)``.

    # DECISION: T is capped at ``total_steps - 1`` so the final sparsity is reached inside the run even with
    # ``ramp_fraction = 1`` (the paper ramps over half the steps, then fine-tunes; docs/method.md §3).
    """
    if int(total_steps) < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    t_end = math.ceil(float(cfg.ramp_fraction) * int(total_steps) - 1e-9)
    return max(0, min(t_end, int(total_steps) - 1))


class Schedule:
    """A schedule: ``sparsity(cfg, step, total_steps)`` and ``should_update(cfg, step, total_steps)``."""

    name: str = ""

    def sparsity(self, cfg: PruneCfg, step: int, total_steps: int) -> float:
        raise NotImplementedError

    def should_update(self, cfg: PruneCfg, step: int, total_steps: int) -> bool:
        raise NotImplementedError


SCHEDULES: Registry[Schedule] = Registry("schedule")


class AGP(Schedule):
    """Automated gradual pruning (Zhu & Gupta 2018), the paper's schedule.

    docs/method.md §3: AGP cubic ramp ``s_t = s_f + (s_i − s_f)(1 − t/T)^3`` for ``t < T``, from ``s_i = 5 %`` to
    ``s_f`` by half of the compression steps (``T = ramp_fraction × total_steps``), then fine-tune at ``s_f``.
    """

    name = "agp"

    def sparsity(self, cfg: PruneCfg, step: int, total_steps: int) -> float:
        _validate(step, total_steps)
        s_f = float(cfg.sparsity)
        # DECISION: a final sparsity below the initial one starts (and stays) at the final one, never above it.
        s_i = min(float(cfg.initial_sparsity), s_f)
        t_end = ramp_steps(cfg, total_steps)
        if step >= t_end:
            return s_f
        if step == 0:
            return s_i  # exactly, without float round-off of the formula
        return s_f + (s_i - s_f) * (1.0 - step / t_end) ** 3

    def should_update(self, cfg: PruneCfg, step: int, total_steps: int) -> bool:
        # Zhu & Gupta prune every Δt steps during the ramp; we also update at T so s_f is hit exactly, then freeze
        # the masks for the fine-tuning phase.
        _validate(step, total_steps)
        t_end = ramp_steps(cfg, total_steps)
        if step == 0 or step == t_end:
            return True
        return step < t_end and step % int(cfg.update_every) == 0


class OneShot(Schedule):
    """docs/method.md §3: one-shot = ``s_f`` at step 0, masks fixed afterwards."""

    name = "one_shot"

    def sparsity(self, cfg: PruneCfg, step: int, total_steps: int) -> float:
        _validate(step, total_steps)
        return float(cfg.sparsity)

    def should_update(self, cfg: PruneCfg, step: int, total_steps: int) -> bool:
        _validate(step, total_steps)
        return step == 0


SCHEDULES.add("agp", AGP())
SCHEDULES.add("one_shot", OneShot())


def sparsity_at(cfg: PruneCfg, step: int, total_steps: int) -> float:
    """Target sparsity at 0-indexed ``step`` of a ``total_steps`` run under ``cfg.schedule``.

    Raises:
        UserError: Unknown ``cfg.schedule`` (lists the valid values).
    """
    return SCHEDULES.get(cfg.schedule).sparsity(cfg, int(step), int(total_steps))


def should_update(cfg: PruneCfg, step: int, total_steps: int) -> bool:
    """Whether the loop should recompute masks (``MaskSet.update``) at ``step``.

    Raises:
        UserError: Unknown ``cfg.schedule`` (lists the valid values).
    """
    return SCHEDULES.get(cfg.schedule).should_update(cfg, int(step), int(total_steps))
