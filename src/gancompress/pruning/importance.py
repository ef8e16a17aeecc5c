"""Importance criteria: per-element scores, same shape as the weight; higher = more important = kept.

A granularity sums element scores over its unit, so ``magnitude`` ranks units by their L1 norm (PAPER §3: "magnitude
(L1 of the pruned unit)") and ``l2`` by their squared L2 norm. ``random`` is the control criterion.

Example:
    >>> import torch
    >>> IMPORTANCES.get("magnitude")(torch.tensor([-2.0, 1.0]))
    tensor([2., 1.])
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from gancompress.registry import Registry


class Importance(Protocol):
    """``(weight, *, generator=None) -> scores`` with ``scores.shape == weight.shape``."""

    def __call__(self, weight: Tensor, *, generator: torch.Generator | None = None) -> Tensor: ...


IMPORTANCES: Registry[Importance] = Registry("importance")


@IMPORTANCES.register("magnitude")
def magnitude(weight: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """|w|: summed over a unit this is the unit's L1 norm (PAPER §3, the paper's criterion).

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


def get_importance(name_or_fn: str | Importance) -> Importance:
    """Look up a criterion by name (``UserError`` listing valid names if unknown) or pass a callable through."""
    if callable(name_or_fn):
        return name_or_fn
    return IMPORTANCES.get(name_or_fn)
