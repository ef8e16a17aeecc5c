"""Distance in the discriminator's feature space between G_C(x) and G_O(x) (``method.d_feature``).

A perceptual distance taken in D_O's (the fine-tuned discriminator's) penultimate features — the feature-matching
idea of pix2pixHD (Wang et al., CVPR 2018) with the teacher's output as the target — added to G_C's loss next to the
output distance ``anchor`` (docs/pruning.md "Recovery after pruning").

Which features, for every family: the **input of the prunable layer (Conv / ConvTranspose / Linear) that runs last**
while D judges an image (DCGAN, pix2pix, CycleGAN: the last conv; StarGAN: the trunk both heads read; SRGAN: the
input of the final 1×1 conv). Found at run time with forward pre-hooks, so a bring-your-own D needs nothing.

Example:
    >>> d = nn.Sequential(nn.Conv2d(1, 4, 3), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    >>> with capture_last_layer_input(d) as feats:
    ...     _ = d(torch.randn(2, 1, 8, 8))
    >>> tuple(feats[-1].shape)
    (2, 4, 6, 6)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

from gancompress.pruning.granularity import PRUNABLE_TYPES


@contextmanager
def capture_last_layer_input(d: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Inside the block, D's prunable layers append their inputs to the yielded list in execution order; after one
    D forward, ``feats[-1]`` is the input of the layer that ran last (D's penultimate feature)."""
    feats: list[torch.Tensor] = []

    def record(_module: nn.Module, inputs: Any) -> None:
        feats.append(inputs[0])

    handles = [m.register_forward_pre_hook(record) for m in d.modules() if isinstance(m, PRUNABLE_TYPES)]
    try:
        yield feats
    finally:
        for h in handles:
            h.remove()


@contextmanager
def buffers_untouched(d: nn.Module) -> Iterator[None]:
    """Run D's forwards in the block without changing any of its buffers, and without an in-place write to one.

    Normalisation layers judge with the batch's statistics (train mode) but neither read nor update their running
    statistics (``track_running_stats`` off, the running tensors unbound for the block); every other buffer (e.g.
    spectral norm's vectors) gets its value from before the block back by rebinding its slot to a saved copy. No
    in-place write: autograd may have saved those tensors in an earlier forward of this step (BatchNorm's backward
    takes its running statistics), and an in-place change before ``backward`` would fail its version check.
    """
    norms = [m for m in d.modules() if isinstance(m, _NormBase) and m.track_running_stats]
    stats = {"running_mean", "running_var", "num_batches_tracked"}
    saved = [
        (m, name, buf.detach().clone())
        for m in d.modules()
        for name, buf in m._buffers.items()
        if buf is not None and not (m in norms and name in stats)
    ]
    running = [(m, m._buffers.get("running_mean"), m._buffers.get("running_var")) for m in norms]
    for m in norms:
        m.track_running_stats = False
        m._buffers["running_mean"] = m._buffers["running_var"] = None
    try:
        yield
    finally:
        for m, mean, var in running:
            m.track_running_stats = True
            m._buffers["running_mean"], m._buffers["running_var"] = mean, var
        for m, name, value in saved:
            m._buffers[name] = value


def penultimate_distance(feats_c: list[torch.Tensor], feats_o: list[torch.Tensor]) -> torch.Tensor:
    """Mean ``|f_C − f_O|`` between D's penultimate features of G_C(x) and G_O(x) (G_O's side detached).

    Example:
        >>> penultimate_distance([torch.ones(2, 3)], [torch.zeros(2, 3)]).item()
        1.0
    """
    if not feats_c or not feats_o:
        raise ValueError("the discriminator ran no Conv / ConvTranspose / Linear layer: no feature to compare")
    return (feats_c[-1] - feats_o[-1].detach()).abs().mean()


__all__ = ["buffers_untouched", "capture_last_layer_input", "penultimate_distance"]
