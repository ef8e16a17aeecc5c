"""``Pruner``: one module's pruning — its ``MaskSet`` and ``PruneCfg`` policy, schedule included (docs/method.md §3).

Built once from a :class:`~gancompress.config.PruneCfg` (granularity, exclusions, scope, per-layer overrides, final
sparsity, schedule, importance), it is all the training loop needs: ``step(i)`` recomputes the masks when the
schedule says so, ``mask_grads()`` before the optimizer step, ``apply()`` after it (Adam's momentum would otherwise
revive pruned weights). The same object prunes one-shot (``prune()``: ``prune_oneshot``, Table 1 row c's parameter
budget) and the discriminator of rows m and n.

Example:
    >>> from torch import nn
    >>> from gancompress.config import PruneCfg
    >>> g_comp = nn.Sequential(nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3))
    >>> pruner = Pruner.attach(g_comp, PruneCfg(sparsity=0.5, schedule="agp", ramp_fraction=0.5), total_steps=100)
    >>> [round(pruner.step(i), 3) for i in (0, 10)], pruner.step(11)  # AGP: new masks every update_every = 10 steps
    ([0.05, 0.27], None)
    >>> round(pruner.prune(), 2)
    0.5
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from gancompress.config import PruneCfg
from gancompress.pruning.channel_masks import ChannelMaskSet
from gancompress.pruning.masks import MaskSet
from gancompress.pruning.schedule import should_update, sparsity_at

log = logging.getLogger(__name__)


class Pruner:
    """A module's masks and the policy that sets them.

    Args:
        masks: the :class:`MaskSet` on the pruned module (:meth:`attach` builds it from ``cfg``).
        cfg: the pruning policy; ``None``: fixed masks (the schedule never changes them).
        total_steps: steps of the run the schedule spans (``step(i)`` needs it).
    """

    def __init__(self, masks: MaskSet, cfg: PruneCfg | None = None, *, total_steps: int | None = None) -> None:
        self.masks, self.cfg, self.total_steps = masks, cfg, total_steps

    @classmethod
    def attach(
        cls,
        model: nn.Module,
        cfg: PruneCfg,
        *,
        total_steps: int | None = None,
        example_inputs: tuple[Any, ...] | None = None,
    ) -> Pruner:
        """Masks on ``model``'s prunable layers as ``cfg`` says (``example_inputs`` trace filter → norm coupling, and
        the coupling groups of channel granularity, which needs them). With ``cfg.target_macs`` the final channel
        ratio is the one leaving that fraction of the dense MACs (the returned pruner's ``cfg.sparsity``)."""
        if cfg.granularity == "channel":
            masks: MaskSet = ChannelMaskSet.attach(
                model, exclude=cfg.exclude, example_inputs=example_inputs, round_to=cfg.round_to
            )
        else:
            masks = MaskSet.attach(
                model, exclude=cfg.exclude, granularity=cfg.granularity, example_inputs=example_inputs
            )
        masks.configure(scope=cfg.scope, layer_sparsity=cfg.layer_sparsity, final_sparsity=cfg.sparsity)
        if cfg.target_macs is not None and isinstance(masks, ChannelMaskSet):
            ratio = masks.ratio_for_macs(cfg.target_macs, cfg.importance)
            log.info("prune.target_macs=%.3f: channel ratio %.4f", cfg.target_macs, ratio)
            cfg = replace(cfg, sparsity=ratio)
            masks.configure(scope=cfg.scope, layer_sparsity=cfg.layer_sparsity, final_sparsity=cfg.sparsity)
        return cls(masks, cfg, total_steps=total_steps)

    def step(self, i: int, *, generator: torch.Generator | None = None) -> float | None:
        """Before step ``i`` (0-indexed): new masks at the schedule's sparsity when it says so; returns that target,
        or ``None`` when the masks stay. ``generator``: the draws of the ``random`` criterion."""
        if self.cfg is None or self.total_steps is None or not should_update(self.cfg, i, self.total_steps):
            return None
        target = sparsity_at(self.cfg, i, self.total_steps)
        self.masks.update(target, importance=self.cfg.importance, generator=generator)
        return target

    def prune(self) -> float:
        """One shot to the final sparsity (no schedule); returns the sparsity reached."""
        if self.cfg is None:
            raise ValueError("a Pruner without a PruneCfg has no sparsity to prune to")
        return self.masks.update(self.cfg.sparsity, importance=self.cfg.importance)

    def mask_grads(self) -> None:
        """Zero the gradients of pruned weights (before the optimizer step)."""
        self.masks.mask_grads()

    def apply(self) -> None:
        """Re-apply the masks to the weights (after the optimizer step)."""
        self.masks.apply()


__all__ = ["Pruner"]
