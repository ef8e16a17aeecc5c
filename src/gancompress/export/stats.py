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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from gancompress.checkpoint import saved_size_bytes
from gancompress.pruning import MASK_NAME, count_nonzero, count_parameters
from gancompress.pruning.granularity import canonical

log = logging.getLogger(__name__)


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (BatchNorm at batch 1) for the duration, then the caller's mode back."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes.items():
            m.training = training


def _weight_density(module: nn.Module) -> float:
    weight = module.weight.detach()
    mask = module._buffers.get(MASK_NAME)
    if mask is not None:
        weight = weight * mask
    return int(weight.count_nonzero()) / weight.numel() if weight.numel() else 0.0


def layer_macs(model: nn.Module, example_inputs: Sequence[Tensor]) -> list[dict[str, Any]]:
    """Per Conv2d / ConvTranspose2d / Linear call: ``name``, ``kind``, ``macs``, ``density`` (non-zero weights).

    MACs (bias and activations excluded) for one forward of ``example_inputs`` (batch included):
    Conv2d ``out.numel() · in/groups · kH · kW``; ConvTranspose2d ``in.numel() · out/groups · kH · kW`` (every input
    element is scattered through its kernel); Linear ``out.numel() · in_features``.
    """
    rows: list[dict[str, Any]] = []

    def hook(name: str) -> Callable[..., None]:
        def fn(mod: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> None:
            if isinstance(mod, nn.ConvTranspose2d):
                kh, kw = mod.kernel_size
                macs = inputs[0].numel() * (mod.out_channels // mod.groups) * kh * kw
            elif isinstance(mod, nn.Conv2d):
                kh, kw = mod.kernel_size
                macs = output.numel() * (mod.in_channels // mod.groups) * kh * kw
            else:
                macs = output.numel() * mod.in_features
            rows.append({"name": name, "kind": type(mod).__name__, "macs": int(macs), "density": _weight_density(mod)})

        return fn

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    handles = [m.register_forward_hook(hook(n)) for n, m in layers]
    try:
        with eval_mode(model), torch.no_grad():
            model(*example_inputs)
    finally:
        for h in handles:
            h.remove()
    return rows


def count_macs(model: nn.Module, example_inputs: Sequence[Tensor]) -> int:
    """Dense multiply-accumulates of one forward of ``example_inputs`` (pass batch 1 for per-sample MACs).

    Example:
        >>> count_macs(nn.Conv2d(3, 8, 3, padding=1), (torch.randn(1, 3, 4, 4),))  # 8·4·4 outputs × 3·3·3
        3456
    """
    return sum(r["macs"] for r in layer_macs(model, example_inputs))


def effective_macs(model: nn.Module, example_inputs: Sequence[Tensor]) -> int:
    """The "ideal" MACs under sparsity: each layer's MACs × the density of its (masked) weight.

    Example:
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
