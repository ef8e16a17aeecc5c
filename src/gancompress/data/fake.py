"""A synthetic, file-free dataset for ``--dry-run`` and fast tests: one smooth Gaussian blob per image.

The blob's position depends on the class (10 positions on a circle), so a classifier can learn the labels and a GAN
has a simple, multi-modal target. Deterministic: the random seed is derived from the split.

Example:
    >>> from gancompress.config import DataCfg
    >>> ds = load_fake(DataCfg(name="fake", image_size=16), "test")
    >>> len(ds), tuple(ds.images.shape[1:]), ds.num_classes
    (256, (1, 16, 16), 10)
"""

from __future__ import annotations

import math

import torch

from gancompress.config import DataCfg
from gancompress.data.datasets import DATASETS, ImageDataset, check_split
from gancompress.errors import UserError

NUM_CLASSES = 10
SIZES = {"train": 512, "test": 256}
_SEEDS = {"train": 1, "test": 2}


def make_blobs(n: int, size: int, channels: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` blob images ``(n, channels, size, size)`` in [-1, 1] and their int64 labels, reproducible from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n, dtype=torch.int64) % NUM_CLASSES
    labels = labels[torch.randperm(n, generator=g)]
    angle = labels.float() * (2 * math.pi / NUM_CLASSES)
    # centre on a circle of radius 0.5 (image coordinates in [-1, 1]) plus a little jitter
    cx = 0.5 * torch.cos(angle) + 0.06 * torch.randn(n, generator=g)
    cy = 0.5 * torch.sin(angle) + 0.06 * torch.randn(n, generator=g)
    sigma = 0.15 + 0.1 * torch.rand(n, generator=g)
    amp = 0.8 + 0.2 * torch.rand(n, generator=g)
    coords = torch.linspace(-1.0, 1.0, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    d2 = (xx[None] - cx[:, None, None]) ** 2 + (yy[None] - cy[:, None, None]) ** 2
    blob = amp[:, None, None] * torch.exp(-d2 / (2 * sigma[:, None, None] ** 2))  # in [0, 1]
    img = blob.unsqueeze(1)
    if channels == 3:
        # class-dependent colour so RGB models see a per-class tint as well
        hue = angle[:, None] + torch.tensor([0.0, 2 * math.pi / 3, 4 * math.pi / 3])[None]
        colour = 0.6 + 0.4 * torch.cos(hue)
        img = img * colour[:, :, None, None]
    elif channels != 1:
        raise UserError(f"channels must be 1 or 3, got {channels}")
    return (img * 2.0 - 1.0).clamp(-1.0, 1.0).contiguous(), labels


@DATASETS.register("fake")
def load_fake(cfg: DataCfg, split: str) -> ImageDataset:
    """512 train / 256 test blob images generated at ``cfg.image_size`` and ``cfg.channels``; no files needed."""
    check_split(split)
    images, labels = make_blobs(SIZES[split], cfg.image_size, cfg.channels, _SEEDS[split])
    return ImageDataset(images, labels, "fake", split, NUM_CLASSES, tuple(str(i) for i in range(NUM_CLASSES)))
