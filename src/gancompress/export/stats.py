"""What a generator costs: parameters, non-zeros, MACs, effective MACs (non-zero weights) and file size.

docs/architecture.md "Speed and scale": fp32 on CPU, fixed threads, warm-up, medians of interleaved A/B rounds. Masks
alone save no time (a zeroed weight costs the same in a dense kernel); real CPU speed comes from filter pruning +
physical channel removal (:mod:`gancompress.pruning.physical`), measured by :mod:`gancompress.export.latency` under
eager PyTorch, ``torch.compile`` and ONNX Runtime.

Example:
    >>> import torch
    >>> from gancompress.models import create_model
    >>> g = create_model("dcgan_generator", nz=16, ngf=8)
    >>> count_macs(g, (torch.randn(1, 16),))
    303104
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from torch import Tensor, nn

from gancompress.checkpoint import saved_size_bytes
from gancompress.pruning import MASK_NAME, count_nonzero, count_parameters
from gancompress.pruning.counting import layer_macs
from gancompress.pruning.granularity import canonical

log = logging.getLogger(__name__)


def count_macs(model: nn.Module, example_inputs: Sequence[Tensor]) -> int:
    """Dense multiply-accumulates of one forward of ``example_inputs`` (pass batch 1 for per-sample MACs).

    Example:
        >>> import torch
        >>> count_macs(nn.Conv2d(3, 8, 3, padding=1), (torch.randn(1, 3, 4, 4),))  # 8·4·4 outputs × 3·3·3
        3456
    """
    return sum(r["macs"] for r in layer_macs(model, example_inputs))


def effective_macs(model: nn.Module, example_inputs: Sequence[Tensor]) -> int:
    """The "ideal" MACs under sparsity: each layer's MACs × the density of its (masked) weight.

    Example:
        >>> import torch
        >>> lin = nn.Linear(4, 2, bias=False)
        >>> with torch.no_grad():
        ...     _ = lin.weight[0].zero_()
        >>> effective_macs(lin, (torch.randn(1, 4),))
        4
    """
    return round(sum(r["macs"] * r["density"] for r in layer_macs(model, example_inputs)))


def model_size_bytes(module: nn.Module) -> int:
    """Size on disk of ``module`` as gancompress saves it (``checkpoint.save_module``: masks packed or derived from the
    zeros, so a masked model is no larger than its dense weights)."""
    return saved_size_bytes(module)


def model_stats(model: nn.Module, example_inputs: Sequence[Tensor]) -> dict[str, int]:
    """``params``, ``nonzero``, ``macs``, ``effective_macs``, ``size_bytes`` of ``model`` for ``example_inputs``."""
    rows = layer_macs(model, example_inputs)
    return {
        "params": count_parameters(model),
        "nonzero": count_nonzero(model),
        "macs": sum(r["macs"] for r in rows),
        "effective_macs": round(sum(r["macs"] * r["density"] for r in rows)),
        "size_bytes": model_size_bytes(model),
    }


def is_filter_structured(model: nn.Module) -> bool:
    """Whether the model's masks prune whole output channels (so :func:`remove_pruned_channels` can shrink it)."""
    found = False
    for mod in model.modules():
        mask = mod._buffers.get(MASK_NAME)
        if mask is None:
            continue
        per_filter = canonical(mask, mod).flatten(2)  # (groups, out/groups, in/groups·kH·kW)
        if not bool((per_filter == per_filter[..., :1]).all()):
            return False
        found = found or bool((per_filter[..., 0] == 0).any())
    return found
