"""Parameter counting: total and non-zero parameter elements of a model.

The size numbers reported for dense and pruned models (``evaluate``, ``export.stats``, ``physical``, the API). They
count what ``model.parameters()`` holds and know nothing about masks, so they live apart from ``masks.py``;
``gancompress.pruning.masks`` and ``gancompress.pruning`` re-export them for existing callers.

Example:
    >>> from torch import nn
    >>> layer = nn.Linear(4, 2)
    >>> count_parameters(layer), count_nonzero(layer) <= 10
    (10, True)
"""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Number of parameter elements (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero(model: nn.Module) -> int:
    """Number of non-zero parameter elements over all parameters."""
    return sum(int(p.detach().count_nonzero()) for p in model.parameters())
