"""Small conv nets for the latency tests, and ``build(ratio)`` that narrows one uniformly (what a real pruner's
physical model looks like to the latency side: same layer names, fewer channels)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def conv_net(width: int = 32, channels: int = 3) -> nn.Sequential:
    """channels → width → width → channels, 3×3 convs with ReLUs."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, channels, 3, padding=1),
    )


def narrowing(width: int = 32) -> Callable[[float], nn.Module]:
    """``build(ratio)``: :func:`conv_net` at width ``round(width · (1 − ratio))`` (at least 1), fixed seed."""

    def build(ratio: float) -> nn.Module:
        torch.manual_seed(0)
        return conv_net(max(1, round(width * (1 - ratio)))).eval()

    return build


def fake_cost(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> float:
    """A deterministic "latency": 1 ns per MAC-ish (weights × input pixels) + 1 µs per call."""
    pixels = inputs[0][0, 0].numel() if inputs[0].dim() == 4 else 1
    return 1e-9 * sum(p.numel() for p in module.parameters()) * pixels * inputs[0].shape[0] + 1e-6
