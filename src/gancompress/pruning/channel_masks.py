"""``ChannelMaskSet``: channel pruning as masks over coupling groups (docs/pruning.md "Channel pruning").

The model keeps its full width while it trains: a pruned channel's filters (``weight_mask`` rows), biases
(``bias_mask``) and norm parameters (``channel_mask``, GroupNorm included) are zero in every layer of its coupling group
(:mod:`.channel_groups`), so the channel is exactly zero everywhere and ``remove_pruned_channels``
(:mod:`.physical`) can cut it out with an output-identical result. Everything else — the buffers, ``apply``
after each optimizer step, checkpoints, the schedule in ``Pruner`` — is ``MaskSet``'s.

A ratio (``update(sparsity)``) is the fraction of each group's channels removed (``uniform``) or of all channels
(``global``); :meth:`ChannelMaskSet.ratio_for_macs` finds the ratio that leaves a fraction of the dense MACs.

Example:
    >>> import torch
    >>> from torch import nn
    >>> g = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 3, 3))
    >>> masks = ChannelMaskSet.attach(g, exclude=["3"], example_inputs=(torch.randn(2, 3, 8, 8),), round_to=4)
    >>> masks.update(0.5), int(g[1].channel_mask.sum()), round(masks.macs_fraction(), 3)
    (0.5, 8, 0.5)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.pruning.channel_groups import (
    ChannelGroup,
    dense_layer_macs,
    find_channel_groups,
    select,
    selection_macs,
    unit_scores,
)
from gancompress.pruning.granularity import canonical, from_canonical, make_granularity
from gancompress.pruning.importance import Importance
from gancompress.pruning.mask_buffers import (
    BIAS_MASK_NAME,
    CHANNEL_MASK_NAME,
    MASK_NAME,
    has_channel_state,
    norm_tensors,
    norm_width,
    output_channel_keep,
    register_coupled,
)
from gancompress.pruning.masks import MaskSet
from gancompress.pruning.physical import remove_pruned_channels

log = logging.getLogger(__name__)


def out_channel_mask(layer: nn.Module, keep: Tensor) -> Tensor:
    """A weight-shaped 0/1 mask keeping the output channels where ``keep`` (``(out,)``) is non-zero."""
    ones = torch.ones_like(layer.weight, dtype=keep.dtype)
    c = canonical(ones, layer)
    c = c * keep.reshape(c.shape[0], c.shape[1], 1, 1, 1)
    return from_canonical(c, layer, layer.weight.shape).contiguous()


class ChannelMaskSet(MaskSet):
    """The masks of a channel-pruned model: one selection per coupling group.

    Attributes:
        groups: The coupling groups pruned (:class:`~.channel_groups.ChannelGroup`).
        skipped: ``{root layer: reason}`` of the groups left whole.
        round_to: Kept widths are rounded to a multiple of this (1: no rounding).
        pruned: The pruned root channels of each group after the last :meth:`update`.
    """

    def __init__(
        self,
        targets: dict[str, nn.Module],
        *,
        model: nn.Module,
        example_inputs: tuple[Any, ...],
        groups: list[ChannelGroup],
        skipped: dict[str, str],
        round_to: int = 1,
    ) -> None:
        super().__init__(targets, make_granularity("channel"), model=model, example_inputs=example_inputs)
        self.groups, self.skipped, self.round_to = groups, skipped, int(round_to)
        self.pruned: list[set[int]] = [set() for _ in groups]
        self._dense_macs = dense_layer_macs(model, tuple(t[:1] for t in example_inputs))
        self._modules = dict(model.named_modules())
        for g in groups:
            for m in g.members:
                if m.role == "out" and isinstance(m.module.bias, Tensor):
                    register_coupled(m.module, BIAS_MASK_NAME, m.module.bias.shape[0], m.module.bias)
                if m.role == "norm" and has_channel_state(m.module):
                    register_coupled(m.module, CHANNEL_MASK_NAME, norm_width(m.module), norm_tensors(m.module)[0])
                    self._norms[m.name] = m.module

    @classmethod
    def attach(  # type: ignore[override]
        cls,
        model: nn.Module,
        *,
        exclude: Iterable[str] = (),
        example_inputs: tuple[Any, ...] | None = None,
        round_to: int = 1,
        granularity: str = "channel",
    ) -> ChannelMaskSet:
        """Mask buffers on ``model``'s prunable layers and the coupling groups they form.

        Raises:
            UserError: No ``example_inputs`` (the groups are traced), or what :meth:`MaskSet.attach` refuses.
        """
        if example_inputs is None:
            raise UserError("channel pruning traces the model's coupling groups: it needs example inputs")
        if int(round_to) < 1:
            raise UserError(f"prune.round_to must be >= 1, got {round_to}")
        base = MaskSet.attach(model, exclude=exclude, granularity="channel", example_inputs=example_inputs)
        targets = dict(base.items())
        groups, skipped = find_channel_groups(model, example_inputs, targets)
        if not groups:
            reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "no prunable channel groups"
            raise UserError(f"channel pruning found no group of channels it can remove ({reasons})")
        log.info(
            "channel pruning: %d coupling groups over %d layers; left whole: %s",
            len(groups), len(targets), ", ".join(skipped) or "none",
        )  # fmt: skip
        return cls(
            targets, model=model, example_inputs=tuple(example_inputs), groups=groups, skipped=skipped,
            round_to=round_to,
        )  # fmt: skip

    # ---------------------------------------------------------------- selection
    def _alive(self, g: ChannelGroup) -> Tensor:
        """``(size,)`` 1 where the root channel is still produced (its first producer's filter mask is non-zero)."""
        producer = g.producers()[0]
        live = output_channel_keep(producer.module, getattr(producer.module, MASK_NAME)) != 0
        alive = torch.zeros(g.size, dtype=torch.bool)
        for local, root in producer.pairs:
            if root < g.size:
                alive[root] |= bool(live[local])
        return alive

    def scores(self, importance: str, generator: torch.Generator | None = None) -> list[Tensor]:
        """Unit scores per group; units already pruned score 0 so a schedule never revives them (their consumers'
        input weights are not masked and would otherwise keep them ranked)."""
        out = []
        for g in self.groups:
            s = unit_scores(g, importance, generator)
            alive = self._alive(g)
            dead = torch.tensor([not bool(alive[u].any()) for u in g.units])
            out.append(s.masked_fill(dead, 0.0))
        return out

    @torch.no_grad()
    def update(  # type: ignore[override]
        self,
        sparsity: float,
        *,
        importance: str | Importance = "l2",
        generator: torch.Generator | None = None,
        **_: Any,
    ) -> float:
        """Prune each group to channel ratio ``sparsity`` (``configure``'s scope), write and apply the masks.

        Returns:
            The fraction of the groups' channels pruned.
        """
        if not isinstance(importance, str):
            raise UserError("channel pruning takes a named importance (prune.importance), not a callable")
        if self.layer_sparsity:
            raise UserError("prune.layer_sparsity is not supported with channel granularity; use prune.exclude")
        self.pruned = select(
            self.groups, self.scores(importance, generator), float(sparsity), scope=self.scope, round_to=self.round_to
        )
        self._write_masks()
        self.target_sparsity = float(sparsity)
        self.apply()
        achieved = self.channel_ratio()
        log.debug("channel masks updated: target %.4f, achieved %.4f", sparsity, achieved)
        return achieved

    def _write_masks(self) -> None:
        for mod in self._targets.values():
            getattr(mod, MASK_NAME).fill_(1.0)
            if BIAS_MASK_NAME in mod._buffers:
                mod._buffers[BIAS_MASK_NAME].fill_(1.0)
        for norm in self._norms.values():
            norm._buffers[CHANNEL_MASK_NAME].fill_(1.0)
        for g, dead in zip(self.groups, self.pruned, strict=True):
            for m in g.members:
                gone = sorted(m.pruned_local(dead))
                if not gone or m.role == "in":
                    continue
                if m.role == "norm":
                    if CHANNEL_MASK_NAME in m.module._buffers:
                        m.module._buffers[CHANNEL_MASK_NAME][gone] = 0.0
                    continue
                mask = getattr(m.module, MASK_NAME)
                keep = torch.ones(mask.shape[0] if isinstance(m.module, nn.Linear) else m.module.out_channels)
                keep[gone] = 0.0
                mask.mul_(out_channel_mask(m.module, keep.to(mask.device, mask.dtype)))
                if BIAS_MASK_NAME in m.module._buffers:
                    m.module._buffers[BIAS_MASK_NAME][gone] = 0.0

    # ---------------------------------------------------------------- reporting
    def channel_ratio(self) -> float:
        """Fraction of the groups' root channels pruned."""
        total = sum(g.size for g in self.groups)
        return sum(len(p) for p in self.pruned) / total if total else 0.0

    def macs_fraction(self, pruned: list[set[int]] | None = None) -> float:
        """MACs after removing the pruned channels (``pruned``, default the current selection) / dense MACs."""
        dense = sum(self._dense_macs.values())
        chosen = self.pruned if pruned is None else pruned
        return selection_macs(self._dense_macs, self._modules, self.groups, chosen) / dense if dense else 1.0

    def ratio_for_macs(self, target: float, importance: str = "l2", *, tol: float = 0.005) -> float:
        """The channel ratio whose selection (current weights, ``importance``) leaves ``target`` × the dense MACs.

        Raises:
            UserError: ``target`` outside (0, 1], or below what pruning every group to one unit reaches.
        """
        if not 0.0 < float(target) <= 1.0:
            raise UserError(f"prune.target_macs must be a fraction in (0, 1], got {target}")
        scores = self.scores(importance)

        def frac(r: float) -> float:
            return self.macs_fraction(select(self.groups, scores, r, scope=self.scope, round_to=self.round_to))

        lo, hi = 0.0, 0.99
        floor = frac(hi)
        if float(target) < floor - tol:
            raise UserError(
                f"prune.target_macs={target} is out of reach: channel pruning leaves at least {floor:.3f} of the dense "
                f"MACs (layers kept dense: {', '.join(self.skipped) or 'the output layer'}); ask for >= {floor:.3f}"
            )
        for _ in range(30):
            mid = (lo + hi) / 2
            if frac(mid) > target:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-4:
                break
        return round(hi, 4)

    def builder(self, importance: str = "l2") -> Callable[[float], nn.Module]:
        """``ratio -> a physically shrunk copy of the model`` (the scores fixed now; the weights restored before
        every build), for searching the ratio of a measured speed-up (``export/speed_target.py``)."""
        scores = self.scores(importance)
        state = {k: v.clone() for k, v in self._model.state_dict().items()}

        def build(ratio: float) -> nn.Module:
            self._model.load_state_dict(state)
            self.pruned = select(self.groups, scores, ratio, scope=self.scope, round_to=self.round_to)
            self._write_masks()
            self.apply()
            small, _ = remove_pruned_channels(self._model.eval(), self._example_inputs, atol=None)
            return small

        return build

    def channel_report(self) -> list[dict[str, Any]]:
        """Per group: ``root``, ``channels`` [before, after], ``layers`` (the producers)."""
        return [
            {
                "root": g.root,
                "channels": [g.size, g.size - len(p)],
                "layers": [m.name for m in g.producers()],
            }
            for g, p in zip(self.groups, self.pruned, strict=True)
        ]

    def __repr__(self) -> str:
        return f"ChannelMaskSet({len(self.groups)} groups, ratio={self.target_sparsity})"


__all__ = ["ChannelMaskSet", "out_channel_mask"]
