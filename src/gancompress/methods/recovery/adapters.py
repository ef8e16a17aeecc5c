"""Intermediate-feature distillation from G_O through learnable 1×1 adapters (``method.feature_distill``).

GAN Compression (Li et al., CVPR 2020) distils the teacher's intermediate feature maps into the student: for each
chosen layer a learnable 1×1 convolution maps the student's feature to the teacher's channels, and the loss is the
mean squared error between the two, averaged over layers. The adapters are trained by G_C's optimizer
(``Method.extra_g_params``), saved in training checkpoints, and belong to the method, never to the generator: the
exported G_C holds none of them (docs/pruning.md "Recovery after pruning").

Layers (:func:`distill_points`): the outputs of every Conv2d / ConvTranspose2d of the generator except its output
layer (the one that runs last; its output is the image, which Eq. 7–8 and ``anchor`` already compare). Their outputs
are 4-D feature maps. G_C is a copy of G_O, so the same names exist in both; G_C is masked at full width during
training, so channel counts match and each adapter starts as the identity (loss 0 at G_C = G_O).

Example:
    >>> g = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 1, 3))
    >>> distill_points(g)
    ['0']
    >>> adapters = FeatureAdapters.between(g, g, ["0"])
    >>> f = torch.randn(2, 4, 5, 5)
    >>> adapters.loss({"0": f}, {"0": f}).item()
    0.0
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gancompress.pruning.targets import last_run_layer

#: the layers whose outputs are feature maps (Linear layers, e.g. a label embedding, are left out)
FEATURE_LAYERS = (nn.Conv2d, nn.ConvTranspose2d)


def distill_points(g: nn.Module, example_inputs: tuple[Any, ...] | None = None) -> list[str]:
    """Names of ``g``'s Conv2d / ConvTranspose2d layers except the output layer, in module order.

    The output layer is the one that runs last on ``example_inputs`` (as ``prune.exclude``'s default,
    pruning/targets.py); without inputs, or if that forward fails, the last one defined.
    """
    names = [n for n, m in g.named_modules() if isinstance(m, FEATURE_LAYERS)]
    if not names:
        return []
    last = last_run_layer(g, example_inputs) if example_inputs is not None else None
    output = last if last in names else names[-1]
    return [n for n in names if n != output]


@contextmanager
def capture_outputs(model: nn.Module, names: list[str]) -> Iterator[dict[str, torch.Tensor]]:
    """``{name: output}`` of ``model``'s modules ``names`` during the block: the first call of each only (a
    generator applied twice in one step, e.g. StarGAN's reconstruction, is captured on its first forward)."""
    feats: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            feats.setdefault(name, output[0] if isinstance(output, (tuple, list)) else output)

        return record

    handles = [model.get_submodule(n).register_forward_hook(hook(n)) for n in names]
    try:
        yield feats
    finally:
        for h in handles:
            h.remove()


def _identity_(conv: nn.Conv2d) -> None:
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :, 0, 0].copy_(torch.eye(conv.out_channels, conv.in_channels))
        if conv.bias is not None:
            conv.bias.zero_()


class FeatureAdapters(nn.Module):
    """One 1×1 Conv2d per distilled layer, mapping G_C's channels to G_O's.

    ``adapters[i]`` serves ``points[i]``; an adapter between equal channel counts starts as the identity, one between
    different counts (a narrower student) from PyTorch's default initialisation.
    """

    def __init__(self, points: list[str], channels: list[tuple[int, int]]) -> None:
        super().__init__()
        self.points = list(points)
        self.adapters = nn.ModuleList(nn.Conv2d(c_in, c_out, 1) for c_in, c_out in channels)
        for conv, (c_in, c_out) in zip(self.adapters, channels, strict=True):
            if c_in == c_out:
                _identity_(conv)

    @classmethod
    def between(cls, g_comp: nn.Module, g_orig: nn.Module, points: list[str]) -> FeatureAdapters:
        """Adapters for ``points`` from g_comp's output channels to g_orig's, on g_comp's device and dtype."""
        channels = [(g_comp.get_submodule(n).out_channels, g_orig.get_submodule(n).out_channels) for n in points]
        ref = next(g_comp.parameters(), None)
        adapters = cls(points, channels)
        return adapters.to(device=ref.device, dtype=ref.dtype) if ref is not None else adapters

    def loss(self, feats_c: Mapping[str, torch.Tensor], feats_o: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean over the layers captured on both sides of MSE(adapter(f_C), f_O); G_O's side is detached."""
        terms = [
            F.mse_loss(adapter(feats_c[name]), feats_o[name].detach())
            for name, adapter in zip(self.points, self.adapters, strict=True)
            if name in feats_c and name in feats_o
        ]
        if not terms:
            ref = next(iter(feats_c.values()), None)
            return ref.new_zeros(()) if ref is not None else torch.zeros(())
        return torch.stack(terms).mean()


__all__ = ["FEATURE_LAYERS", "FeatureAdapters", "capture_outputs", "distill_points"]
