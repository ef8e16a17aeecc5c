"""Pruning: importance, granularities, schedules, ``MaskSet`` and the ``Pruner`` owning them (docs/method.md §3).

Example:
    >>> from torch import nn
    >>> from gancompress.pruning import MaskSet
    >>> g_comp = nn.Sequential(nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3))
    >>> masks = MaskSet.attach(g_comp, granularity="nm")
    >>> _ = masks.update(0.5)
    >>> masks.overall_sparsity()
    0.5
"""

from gancompress.pruning.channel_spec import apply_channel_spec, channel_spec
from gancompress.pruning.coupling import coupled_norms
from gancompress.pruning.granularity import GRANULARITIES, NM, Granularity, make_granularity, num_pruned
from gancompress.pruning.importance import CHANNEL_IMPORTANCES, IMPORTANCES, check_importance, get_importance
from gancompress.pruning.masks import (
    BIAS_MASK_NAME,
    CHANNEL_MASK_NAME,
    MASK_BUFFER_NAMES,
    MASK_NAME,
    MaskSet,
    count_nonzero,
    count_parameters,
    output_channel_keep,
)
from gancompress.pruning.packed import load_packed, pack_state_dict, packed_size_ratio, save_packed, unpack_state_dict
from gancompress.pruning.physical import remove_pruned_channels
from gancompress.pruning.pruner import Pruner
from gancompress.pruning.schedule import SCHEDULES, ramp_steps, should_update, sparsity_at

__all__ = [
    "BIAS_MASK_NAME",
    "CHANNEL_IMPORTANCES",
    "CHANNEL_MASK_NAME",
    "GRANULARITIES",
    "IMPORTANCES",
    "MASK_BUFFER_NAMES",
    "MASK_NAME",
    "NM",
    "SCHEDULES",
    "Granularity",
    "MaskSet",
    "Pruner",
    "apply_channel_spec",
    "channel_spec",
    "check_importance",
    "count_nonzero",
    "count_parameters",
    "coupled_norms",
    "get_importance",
    "load_packed",
    "make_granularity",
    "num_pruned",
    "output_channel_keep",
    "pack_state_dict",
    "packed_size_ratio",
    "ramp_steps",
    "remove_pruned_channels",
    "save_packed",
    "should_update",
    "sparsity_at",
    "unpack_state_dict",
]
