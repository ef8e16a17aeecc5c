"""Counting: total and non-zero parameter elements of a model, and the multiply-accumulates of each layer.

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

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from gancompress.pruning.mask_buffers import MASK_NAME


def count_parameters(model: nn.Module) -> int:
    """Number of parameter elements (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero(model: nn.Module) -> int:
    """Number of non-zero parameter elements over all parameters."""
    return sum(int(p.detach().count_nonzero()) for p in model.parameters())


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


def weight_density(module: nn.Module) -> float:
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
            rows.append({"name": name, "kind": type(mod).__name__, "macs": int(macs), "density": weight_density(mod)})

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
