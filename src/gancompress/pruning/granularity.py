"""Pruning granularities: which weights form one prunable unit (docs/method.md §3's hierarchy, plus N:M).

Each granularity turns per-element importance scores into a 0/1 mask of the weight's shape. A unit's score is the SUM
of its element scores (so ``magnitude`` → the unit's L1 norm). Exactly ``num_pruned(sparsity, num_units)`` units
(round half up) are pruned per layer; ties go to the lower flat index (stable sort), so masks are deterministic.

Weight layouts (PyTorch): Conv2d ``(out, in/groups, kH, kW)``; ConvTranspose2d ``(in, out/groups, kH, kW)`` — its
OUTPUT channel is dim 1; Linear ``(out, in)``. Internally every weight is viewed in a canonical
``(groups, out/groups, in/groups, kH, kW)`` layout (Linear: ``(1, out, in, 1, 1)``), so grouped and transposed
convolutions are handled by one code path.

Note: ``filter`` on a generator's last layer prunes whole image channels; exclude that layer (``prune.exclude``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> conv = nn.Conv2d(4, 8, 3)
    >>> g = make_granularity("filter")
    >>> m = g.mask(conv.weight.abs(), 0.5, conv, "conv")
    >>> int((m.sum(dim=(1, 2, 3)) == 0).sum())
    4
"""

from __future__ import annotations

import logging
import math
import re

import torch
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.registry import Registry

log = logging.getLogger(__name__)

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)

# DECISION: the paper's 1-D "vector" is a kernel row; a Linear layer has no kernel, so a Linear vector is this many
# consecutive inputs of one output row (the width SIMD / 4-wide sparse formats work on).
LINEAR_VECTOR = 4


def num_pruned(sparsity: float, num_units: int) -> int:
    """How many of ``num_units`` units to prune: ``sparsity * num_units`` rounded half up (exact to the unit), but a
    sparsity below 1 never prunes every unit.

    DECISION: rounding half up would take a 1-filter layer to 0 filters at 50 % (an image head, a gate) and a
    5-filter layer to 0 at 90 %: the layer's output becomes a constant. Keeping one unit matches ``scope=global``,
    where every layer keeps at least one unit as well.
    """
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    # The epsilon absorbs float noise such as 0.35 * 90 = 31.499999999999996 (→ 32, half up).
    k = min(num_units, math.floor(sparsity * num_units + 0.5 + 1e-9))
    return min(k, num_units - 1) if sparsity < 1.0 and num_units > 0 else k


def _kind(layer: nn.Module) -> str:
    return type(layer).__name__


def canonical(t: Tensor, layer: nn.Module) -> Tensor:
    """View ``t`` (weight-shaped) as ``(groups, out/groups, in/groups, kH, kW)``."""
    if isinstance(layer, nn.ConvTranspose2d):
        g = layer.groups
        n_in, out_g, kh, kw = t.shape
        return t.reshape(g, n_in // g, out_g, kh, kw).permute(0, 2, 1, 3, 4)
    if isinstance(layer, nn.Conv2d):
        g = layer.groups
        n_out, in_g, kh, kw = t.shape
        return t.reshape(g, n_out // g, in_g, kh, kw)
    if isinstance(layer, nn.Linear):
        n_out, n_in = t.shape
        return t.reshape(1, n_out, n_in, 1, 1)
    raise UserError(f"cannot prune layer of type {_kind(layer)}; prunable: Conv2d, ConvTranspose2d, Linear")


def from_canonical(c: Tensor, layer: nn.Module, shape: torch.Size) -> Tensor:
    """Inverse of :func:`canonical`."""
    if isinstance(layer, nn.ConvTranspose2d):
        c = c.permute(0, 2, 1, 3, 4)
    return c.reshape(shape)


class Granularity:
    """Base class: subclasses define how the canonical weight splits into units (rows of a ``(U, K)`` matrix).

    Attributes:
        name: Registry name.
        fixed_sparsity: The only sparsity the granularity can produce (N:M), else ``None``.
    """

    name: str = ""
    fixed_sparsity: float | None = None

    def check(self, layer: nn.Module, layer_name: str) -> None:
        """Raise ``UserError`` naming ``layer_name`` if ``layer`` cannot be pruned at this granularity."""
        if not isinstance(layer, PRUNABLE_TYPES):
            raise UserError(
                f"layer {layer_name!r} ({_kind(layer)}) cannot be pruned; prunable: Conv2d, ConvTranspose2d, Linear"
            )

    def _units(self, c: Tensor, layer: nn.Module) -> Tensor:
        """``(U, K)``: one row per unit, from the canonical view ``c``."""
        raise NotImplementedError

    def _from_units(self, u: Tensor, c_shape: torch.Size, layer: nn.Module) -> Tensor:
        """Inverse of :meth:`_units`: back to the canonical shape."""
        return u.reshape(c_shape)

    def num_units(self, layer: nn.Module) -> int:
        """Number of prunable units in ``layer``."""
        c = canonical(layer.weight.detach(), layer)
        return int(self._units(c, layer).shape[0])

    def mask(self, scores: Tensor, sparsity: float, layer: nn.Module, layer_name: str) -> Tensor:
        """0/1 mask (``scores``' shape and dtype float) pruning the lowest-scoring ``round(sparsity * U)`` units.

        Args:
            scores: Per-element importance, shaped like ``layer.weight``.
            sparsity: Target fraction of units to prune, in [0, 1].
            layer: The module owning the weight (decides the layout).
            layer_name: Qualified name, used in error messages.

        Returns:
            Float tensor of zeros (pruned) and ones (kept).
        """
        self.check(layer, layer_name)
        with torch.no_grad():
            c = canonical(scores, layer)
            units = self._units(c, layer)
            k = num_pruned(float(sparsity), units.shape[0])
            keep = torch.ones(units.shape[0], dtype=torch.float32, device=scores.device)
            if k > 0:
                # Stable ascending sort: equal scores are pruned lowest-index first (deterministic).
                order = torch.sort(units.float().sum(dim=1), stable=True).indices
                keep[order[:k]] = 0.0
            unit_mask = keep[:, None].expand(units.shape)
            return from_canonical(self._from_units(unit_mask, c.shape, layer), layer, scores.shape).contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


GRANULARITIES: Registry[type[Granularity]] = Registry("granularity")


@GRANULARITIES.register("element")
class Element(Granularity):
    """0-D: individual weights, ranked globally within the layer (docs/method.md §3, the paper's main setting)."""

    name = "element"

    def _units(self, c: Tensor, layer: nn.Module) -> Tensor:
        return c.reshape(-1, 1)


@GRANULARITIES.register("vector")
class Vector(Granularity):
    """1-D: a kernel row (the last, kW, dim) for convolutions; ``LINEAR_VECTOR`` consecutive inputs for Linear."""

    name = "vector"

    def check(self, layer: nn.Module, layer_name: str) -> None:
        super().check(layer, layer_name)
        if isinstance(layer, nn.Linear) and layer.in_features % LINEAR_VECTOR != 0:
            raise UserError(
                f"vector granularity groups {LINEAR_VECTOR} consecutive inputs of a Linear layer, but layer "
                f"{layer_name!r} has in_features={layer.in_features}; use granularity 'element' or exclude it "
                f"(prune.exclude)"
            )

    def _units(self, c: Tensor, layer: nn.Module) -> Tensor:
        width = LINEAR_VECTOR if isinstance(layer, nn.Linear) else c.shape[-1]
        return c.reshape(-1, width)


@GRANULARITIES.register("kernel")
class Kernel(Granularity):
    """2-D: a whole kH×kW kernel (one input → one output channel)."""

    name = "kernel"

    def check(self, layer: nn.Module, layer_name: str) -> None:
        super().check(layer, layer_name)
        if isinstance(layer, nn.Linear):
            raise UserError(
                f"kernel granularity needs a convolution, but layer {layer_name!r} is Linear; use granularity "
                f"'element' or exclude it (prune.exclude)"
            )

    def _units(self, c: Tensor, layer: nn.Module) -> Tensor:
        return c.reshape(-1, c.shape[-2] * c.shape[-1])


@GRANULARITIES.register("filter")
class Filter(Granularity):
    """3-D: a whole output channel (Conv2d dim 0, ConvTranspose2d dim 1 within each group, Linear row)."""

    name = "filter"

    def _units(self, c: Tensor, layer: nn.Module) -> Tensor:
        groups, out_g = c.shape[0], c.shape[1]
        return c.reshape(groups * out_g, -1)


@GRANULARITIES.register("channel")
class Channel(Filter):
    """Whole channels of a coupling group: every layer producing, normalising and reading a channel loses it together
    (residual sums, concatenations, grouped convs, GroupNorm, PixelShuffle; :mod:`.channel_groups`), so the model can
    be physically shrunk. Masks are written by :class:`~gancompress.pruning.channel_masks.ChannelMaskSet`."""

    name = "channel"


@GRANULARITIES.register("nm")
class NM(Granularity):
    """N:M: keep the ``n`` highest-scoring of every ``m`` consecutive input channels (sparse tensor cores).

    Groups run along the input channels at each (output channel, kernel position): Conv2d dim 1, ConvTranspose2d
    dim 0 (within its group), Linear dim 1. The sparsity is always exactly ``1 - n/m``.

    # DECISION: N:M is not in the paper (docs/method.md §3 adds it). The requested sparsity is ignored except 0 (→ all
    # ones), so an AGP ramp jumps straight to N:M at its first update with sparsity > 0.
    """

    name = "nm"

    def __init__(self, n: int = 2, m: int = 4) -> None:
        if not (isinstance(n, int) and isinstance(m, int) and 1 <= n < m):
            raise UserError(f"N:M granularity needs integers 1 <= N < M, got {n}:{m}")
        self.n = n
        self.m = m
        self.name = "nm" if (n, m) == (2, 4) else f"nm:{n}:{m}"
        self.fixed_sparsity = 1.0 - n / m
        self._warned = False

    def __repr__(self) -> str:
        return f"NM(n={self.n}, m={self.m})"

    def _in_size(self, layer: nn.Module) -> int:
        if isinstance(layer, nn.Linear):
            return layer.in_features
        return layer.in_channels // layer.groups  # Conv2d and ConvTranspose2d alike

    def check(self, layer: nn.Module, layer_name: str) -> None:
        super().check(layer, layer_name)
        size = self._in_size(layer)
        if size % self.m != 0:
            raise UserError(
                f"{self.n}:{self.m} sparsity groups {self.m} consecutive input channels, but layer {layer_name!r} "
                f"({_kind(layer)}) has {size} input channels per group, not a multiple of {self.m}; use granularity "
                f"'element' or exclude the layer (prune.exclude=[{layer_name!r}])"
            )

    def _units(self, c: Tensor, layer: nn.Module) -> Tensor:
        # (groups, out/g, in/g, kH, kW) → (groups, out/g, kH, kW, in/g): M consecutive inputs per row.
        return c.permute(0, 1, 3, 4, 2).reshape(-1, self.m)

    def _from_units(self, u: Tensor, c_shape: torch.Size, layer: nn.Module) -> Tensor:
        g, out_g, in_g, kh, kw = c_shape
        return u.reshape(g, out_g, kh, kw, in_g).permute(0, 1, 4, 2, 3)

    def mask(self, scores: Tensor, sparsity: float, layer: nn.Module, layer_name: str) -> Tensor:
        """Exact N:M mask (``sparsity`` only matters when it is 0, which gives all ones)."""
        self.check(layer, layer_name)
        if float(sparsity) <= 0.0:
            return torch.ones(scores.shape, dtype=torch.float32, device=scores.device)
        if not self._warned and not math.isclose(float(sparsity), self.fixed_sparsity):
            log.warning(
                "%d:%d granularity always gives sparsity %.3f; ignoring requested %.3f",
                self.n,
                self.m,
                self.fixed_sparsity,
                sparsity,
            )
            self._warned = True
        with torch.no_grad():
            c = canonical(scores, layer)
            groups = self._units(c, layer).float()
            keep = torch.ones_like(groups)
            order = torch.sort(groups, dim=1, stable=True).indices
            keep.scatter_(1, order[:, : self.m - self.n], 0.0)
            return from_canonical(self._from_units(keep, c.shape, layer), layer, scores.shape).contiguous()


_NM_RE = re.compile(r"^(?:nm[:_]?)?(\d+):(\d+)$")


def incompatible_layers(model: nn.Module, granularity: str | Granularity) -> list[str]:
    """Names of ``model``'s prunable layers that ``granularity`` cannot prune (e.g. 2:4 on a 1-channel input conv).

    A sweep keeps them dense (``prune.exclude``) instead of failing; a single run reports them as an error.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Conv2d(8, 8, 3))
        >>> incompatible_layers(net, "nm")
        ['0']
    """
    gran = make_granularity(granularity)
    bad = []
    for name, layer in model.named_modules():
        if isinstance(layer, PRUNABLE_TYPES):
            try:
                gran.check(layer, name)
            except UserError:
                bad.append(name)
    return bad


def make_granularity(name: str | Granularity) -> Granularity:
    """Build a granularity from its name: ``element``, ``vector``, ``kernel``, ``filter``, ``nm`` (2:4),
    ``nm:N:M`` or ``N:M``. A ``Granularity`` instance is passed through.

    Raises:
        UserError: Unknown name (lists the valid values) or bad N:M numbers.

    Example:
        >>> make_granularity("nm:1:4")
        NM(n=1, m=4)
    """
    if isinstance(name, Granularity):
        return name
    text = str(name).strip().lower()
    match = _NM_RE.match(text)
    if match:
        return NM(int(match.group(1)), int(match.group(2)))
    if text not in GRANULARITIES:
        raise UserError(GRANULARITIES.unknown_message(text) + " N:M also accepts 'nm:N:M' or 'N:M' (e.g. '2:4').")
    return GRANULARITIES.get(text)()
