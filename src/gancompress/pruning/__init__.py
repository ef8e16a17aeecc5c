"""Pruning: importance criteria, granularities, sparsity schedules and ``MaskSet`` (PAPER §3).

Example:
    >>> from torch import nn
    >>> from gancompress.pruning import MaskSet
    >>> g_comp = nn.Sequential(nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3))
    >>> masks = MaskSet.attach(g_comp, granularity="nm")
    >>> _ = masks.update(0.5)
    >>> masks.overall_sparsity()
    0.5
"""

from gancompress.pruning.granularity import GRANULARITIES, NM, Granularity, make_granularity, num_pruned
from gancompress.pruning.importance import IMPORTANCES, get_importance
from gancompress.pruning.masks import MASK_NAME, MaskSet, count_nonzero, count_parameters
from gancompress.pruning.schedule import SCHEDULES, ramp_steps, should_update, sparsity_at

__all__ = [
    "GRANULARITIES",
    "IMPORTANCES",
    "MASK_NAME",
    "NM",
    "SCHEDULES",
    "Granularity",
    "MaskSet",
    "count_nonzero",
    "count_parameters",
    "get_importance",
    "make_granularity",
    "num_pruned",
    "ramp_steps",
    "should_update",
    "sparsity_at",
]
