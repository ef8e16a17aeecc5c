"""BatchNorm re-estimation after a pruning step (``method.bn_reestimate``; docs/pruning.md "Recovery after pruning").

Removing channels changes the activations every later BatchNorm sees, so the running statistics it accumulated for
the unpruned network no longer describe them; in eval mode (evaluation, export) the network would normalise with
stale statistics. :func:`reestimate_batchnorm` resets them and re-estimates them over a few batches as a cumulative
average (``momentum=None``) in train mode, without gradients; every other buffer and every module's mode are left
as they were.

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    >>> reestimate_batchnorm(net, [(torch.randn(8, 2),) for _ in range(4)])
    1
    >>> int(net[1].num_batches_tracked), net[1].momentum
    (4, 0.1)
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorms(module: nn.Module) -> list[_BatchNorm]:
    """The BatchNorm layers of ``module`` that keep running statistics."""
    return [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def has_batchnorm(module: nn.Module) -> bool:
    """Whether ``module`` holds a BatchNorm layer with running statistics (else re-estimation is a no-op)."""
    return bool(batchnorms(module))


@torch.no_grad()
def reestimate_batchnorm(module: nn.Module, inputs: Iterable[tuple[torch.Tensor, ...]]) -> int:
    """Reset ``module``'s BatchNorm running statistics and re-estimate them on ``module(*x)`` for each ``x``.

    Runs in train mode under ``no_grad`` with ``momentum=None`` (cumulative average over the batches), then restores
    each layer's momentum, every module's mode and every other buffer (e.g. spectral norm's vectors). Returns the
    number of BatchNorm layers re-estimated; without any, nothing runs (``inputs`` is not consumed).
    """
    norms = batchnorms(module)
    if not norms:
        return 0
    stats = {id(b) for m in norms for b in (m.running_mean, m.running_var, m.num_batches_tracked) if b is not None}
    others = [(b, b.clone()) for b in module.buffers() if id(b) not in stats]
    momenta = [m.momentum for m in norms]
    modes = {m: m.training for m in module.modules()}
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        module.train()
        for x in inputs:
            module(*x)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        for m, training in modes.items():
            m.training = training
        for b, value in others:
            b.copy_(value)
    return len(norms)


__all__ = ["batchnorms", "has_batchnorm", "reestimate_batchnorm"]
