"""Importance criteria: per-element scores, same shape as the weight; higher = more important = kept.

A granularity sums element scores over its unit, so ``magnitude`` ranks units by their L1 norm (docs/method.md §3:
"magnitude (L1 of the pruned unit)") and ``l2`` by their squared L2 norm. ``random`` is the control criterion.
Channel criteria (``CHANNEL_IMPORTANCES``, filter granularity only) score whole output channels from the layer and
the norm layers that consume them: ``bn_scale`` ranks by BatchNorm |γ|.

Example:
    >>> import torch
    >>> IMPORTANCES.get("magnitude")(torch.tensor([-2.0, 1.0]))
    tensor([2., 1.])
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.pruning.channel_groups import CHANNEL_CRITERIA
from gancompress.pruning.granularity import canonical, from_canonical
from gancompress.registry import Registry


class Importance(Protocol):
    """``(weight, *, generator=None) -> scores`` with ``scores.shape == weight.shape``."""

    def __call__(self, weight: Tensor, *, generator: torch.Generator | None = None) -> Tensor: ...


IMPORTANCES: Registry[Importance] = Registry("importance")


@IMPORTANCES.register("magnitude")
def magnitude(weight: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """|w|: summed over a unit this is the unit's L1 norm (docs/method.md §3, the paper's criterion).

    Args:
        weight: Any weight tensor.
        generator: Unused; accepted so every criterion has one signature.

    Returns:
        Non-negative scores of ``weight``'s shape.
    """
    del generator
    return weight.detach().abs()


@IMPORTANCES.register("l2")
def l2(weight: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """w²: summed over a unit this is the unit's squared L2 norm (same ranking as the L2 norm).

    # DECISION: the paper uses L1 only; L2 is offered for the granularity ablation.

    Args:
        weight: Any weight tensor.
        generator: Unused.

    Returns:
        Non-negative scores of ``weight``'s shape.
    """
    del generator
    w = weight.detach()
    return w * w


@IMPORTANCES.register("random")
def random(weight: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Uniform random scores in [0, 1): the control criterion; reproducible when ``generator`` is given.

    Scores are drawn on the generator's device (CPU by default) and moved to the weight's device, so the same seed
    gives the same masks on every device and on every DDP rank.

    Args:
        weight: Any weight tensor (only its shape, dtype and device are used).
        generator: Source of randomness; ``None`` uses torch's global RNG.

    Returns:
        Scores of ``weight``'s shape.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    scores = torch.rand(weight.shape, generator=generator, device=device, dtype=torch.float32)
    return scores.to(device=weight.device)


# ------------------------------------------------------------------------------------------- channel criteria
class ChannelImportance(Protocol):
    """``(layer, norms) -> (out_channels,)`` scores for filter granularity; ``norms``: the layer's coupled norms."""

    def __call__(self, layer: nn.Module, norms: list[nn.Module]) -> Tensor: ...


CHANNEL_IMPORTANCES: Registry[ChannelImportance] = Registry("channel importance")


@CHANNEL_IMPORTANCES.register("bn_scale")
def bn_scale(layer: nn.Module, norms: list[nn.Module]) -> Tensor:
    """|γ| of the normalisation layer that consumes each output channel (Liu et al. 2017, "network slimming").

    Why: when a BatchNorm follows a filter it re-normalises the channel, so the filter's L1 norm says nothing about
    how much the channel contributes downstream — its scale γ does. Layers without an affine norm after them fall
    back to the filter's L1 norm.

    Args:
        layer: A Conv2d / ConvTranspose2d / Linear being filter-pruned.
        norms: Norm layers coupled to its output channels (``MaskSet.coupled``).

    Returns:
        Non-negative ``(out_channels,)`` scores (already-pruned channels score 0: their γ is masked to zero).
    """
    affine = [n for n in norms if getattr(n, "weight", None) is not None]
    if affine:
        return torch.stack([n.weight.detach().abs().float() for n in affine]).sum(0)
    c = canonical(layer.weight.detach().abs(), layer)  # (groups, out/g, in/g, kH, kW)
    return c.reshape(c.shape[0] * c.shape[1], -1).sum(1)


def channel_scores_to_weight(scores: Tensor, layer: nn.Module) -> Tensor:
    """Spread per-output-channel ``scores`` over the weight so a filter's summed element scores equal its score."""
    weight = layer.weight
    c = canonical(torch.empty_like(weight), layer)
    per_filter = c.shape[2] * c.shape[3] * c.shape[4]
    spread = (scores.to(weight.device, weight.dtype) / per_filter).reshape(c.shape[0], c.shape[1], 1, 1, 1)
    return from_canonical(spread.expand_as(c).contiguous(), layer, weight.shape)


def get_importance(name_or_fn: str | Importance) -> Importance:
    """Look up an element criterion by name (``UserError`` listing valid names) or pass a callable through."""
    if callable(name_or_fn):
        return name_or_fn
    return IMPORTANCES.get(name_or_fn)


def check_importance(name: str, granularity: str) -> None:
    """``UserError`` unless ``name`` is a known criterion usable with ``granularity`` (a config-time check)."""
    if granularity == "channel":
        if name not in CHANNEL_CRITERIA:
            valid = ", ".join(CHANNEL_CRITERIA)
            raise UserError(f"unknown importance {name!r} for channel pruning; valid values: {valid}.")
        return
    if name in CHANNEL_IMPORTANCES:
        if granularity != "filter":
            raise UserError(
                f"importance {name!r} ranks whole output channels: use it with granularity filter, not {granularity!r}"
            )
        return
    if name not in IMPORTANCES:
        valid = ", ".join(sorted([*IMPORTANCES.names(), *CHANNEL_IMPORTANCES.names()]))
        raise UserError(f"unknown importance {name!r}; valid values: {valid}.")


def layer_scores(
    importance: str | Importance,
    layer: nn.Module,
    norms: list[nn.Module],
    *,
    granularity: str,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Weight-shaped scores for ``layer``: an element criterion on its weight, or a channel criterion spread over it."""
    if isinstance(importance, str):
        check_importance(importance, granularity)
        if importance in CHANNEL_IMPORTANCES:
            return channel_scores_to_weight(CHANNEL_IMPORTANCES.get(importance)(layer, norms), layer)
    return get_importance(importance)(layer.weight.detach(), generator=generator)
