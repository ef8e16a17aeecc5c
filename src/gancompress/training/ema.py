"""An exponential moving average of G's parameters, ``train.ema`` (docs/decisions.md "Recovery ingredients").

The loop updates it after every optimizer step, once the masks are re-applied: ``ema ← d·ema + (1 − d)·θ``, then the
same masks are applied to the average, so a pruned weight is exactly 0 in it too. The decay warms up as
``d_n = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (as TensorFlow's ``ExponentialMovingAverage`` with
``num_updates``): a compression run is short (10 % of the teacher's steps), and a fixed 0.999 would otherwise keep the
average within a few percent of the unpruned start. Only parameters are averaged; buffers (masks, BatchNorm running
statistics) are the generator's own. At the end of the run the average replaces the trained weights
(:meth:`ParameterEma.copy_to`): what the run returns, saves and evaluates. It is saved in every training checkpoint
(``ema.<name>`` tensors), so ``--resume`` continues it bit for bit.

Example:
    >>> from torch import nn
    >>> layer = nn.Linear(2, 1, bias=False)
    >>> ema = ParameterEma(layer, decay=0.5)
    >>> with torch.no_grad():
    ...     _ = layer.weight.add_(1.0)
    >>> ema.update(layer)  # first update: d_1 = min(0.5, 2 / 11)
    >>> ema.num_updates, round(ema.rate(1), 4)
    (1, 0.1818)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from gancompress.pruning import MaskSet


class ParameterEma:
    """The moving average of ``model``'s parameters (a tensor per ``named_parameters`` name), starting from them."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.reset(model)

    def reset(self, model: nn.Module) -> None:
        """Start the average afresh from ``model``'s current parameters."""
        self.num_updates = 0
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters()}

    def rate(self, n: int) -> float:
        """The decay used by the ``n``-th update (1-indexed): warm-up, then ``decay``."""
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module, masks: MaskSet | None = None) -> None:
        """One step of the average towards ``model``'s current parameters, then ``masks`` applied to it."""
        self.num_updates += 1
        keep = 1.0 - self.rate(self.num_updates)
        params = dict(model.named_parameters())
        for name, avg in self.shadow.items():
            avg.lerp_(params[name].detach(), keep)
        if masks is not None:
            self._mask(params, masks)

    def _mask(self, params: Mapping[str, nn.Parameter], masks: MaskSet) -> None:
        """Apply ``masks`` to the average: the masks act on the model's parameters (weights, coupled biases and norm
        channels, parametrized storage), so the average is swapped into them for ``masks.apply()`` and back."""
        live = {name: p.data for name, p in params.items()}
        try:
            for name, p in params.items():
                p.data = self.shadow[name]
            masks.apply()
        finally:
            for name, p in params.items():
                p.data = live[name]

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite ``model``'s parameters with the average (its buffers are kept)."""
        for name, p in model.named_parameters():
            p.copy_(self.shadow[name])

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """``{parameter name: average}`` (checkpointed with the step count :attr:`num_updates`)."""
        return dict(self.shadow)

    def load_state_tensors(self, tensors: Mapping[str, torch.Tensor], num_updates: int) -> None:
        """Restore from :meth:`state_tensors` and the step count; the names must be exactly the model's."""
        if set(tensors) != set(self.shadow):
            missing, extra = sorted(set(self.shadow) - set(tensors)), sorted(set(tensors) - set(self.shadow))
            raise ValueError(f"EMA state does not match the generator: missing {missing}, unexpected {extra}")
        with torch.no_grad():
            for name, avg in self.shadow.items():
                avg.copy_(tensors[name])
        self.num_updates = int(num_updates)


__all__ = ["ParameterEma"]
