"""``photo_tiles``: 4× super-resolution pairs cut from scikit-image's photos (SRGAN analogue, docs/method.md §6).

``fake_sr`` is the file-free variant for tests and ``--dry-run`` (the ``fake`` blobs with their LR versions).

Images are high-resolution tiles of ``cfg.image_size`` px (default use: 64); ``extras["lr"]`` holds the same tiles
bicubically downsampled by :data:`SCALE` (antialiased), the SR generator's input. The test split is cut from photos
that never appear in training (held-out photos, as Set5/Set14 are for the paper's SRGAN).

Labels are the index of the source photo (``class_names`` = photo names). They only serve the evaluator's domain
feature extractor as a texture/photo classifier; held-out photos are classes the classifier never saw, so class
metrics (coverage) are meaningless here and the recorded classifier accuracy is its training accuracy — PSNR / SSIM
to the HR tile are the task's metrics.

Example:
    >>> from gancompress.config import DataCfg
    >>> from gancompress.data import load_dataset
    >>> ds = load_dataset(DataCfg(name="photo_tiles", image_size=32), "test")  # doctest: +SKIP
    >>> tuple(ds.images.shape[1:]), tuple(ds.extras["lr"].shape[1:])            # doctest: +SKIP
    ((1, 32, 32), (1, 8, 8))
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from gancompress.config import DataCfg
from gancompress.data.datasets import DATASETS, ImageDataset, check_split
from gancompress.data.fake import load_fake
from gancompress.errors import UserError

log = logging.getLogger(__name__)

SCALE = 4
#: DECISION: held-out photos — a grayscale portrait with fine structure (camera), an outdoor scene (rocket) and an
#: object with specular detail (motorcycle, left stereo view) — none related to a training photo.
TEST_PHOTOS = ("camera", "rocket", "stereo_motorcycle")
TRAIN_PHOTOS = (
    "astronaut", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry", "retina", "brick", "grass",
    "gravel", "moon", "coins", "page", "text", "cell", "clock",
)  # fmt: skip
#: photos are first downscaled so their short side is at most this (a 64 px tile then holds recognisable structure)
SHORT_SIDE = 256
#: DECISION: tiles whose pixel std (in [0, 1]) is below this are dropped: flat sky / background teaches nothing and
#: inflates PSNR.
MIN_TILE_STD = 0.04


def _photo(name: str) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] of one bundled scikit-image photo (grayscale repeated to RGB)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle → (left, right, disparity)
        img = img[0]
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.float32)
    elif img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    else:
        img = img.astype(np.float32)
        img = (img - img.min()) / max(float(img.max() - img.min()), 1e-8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return img[:, :, :3]


@functools.lru_cache(maxsize=4)
def _tiles(split: str, size: int, channels: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(HR tiles (N, C, size, size) in [-1, 1], LR tiles (N, C, size/4, size/4), photo index per tile)."""
    names = TRAIN_PHOTOS if split == "train" else TEST_PHOTOS
    offset = 0 if split == "train" else len(TRAIN_PHOTOS)
    stride = max(1, size // 4)
    hr, labels = [], []
    for i, name in enumerate(names):
        photo = torch.from_numpy(_photo(name)).permute(2, 0, 1)[None]  # (1, 3, H, W)
        h, w = photo.shape[-2:]
        factor = SHORT_SIDE / min(h, w)
        if factor < 1:
            size_hw = (round(h * factor), round(w * factor))
            photo = F.interpolate(photo, size=size_hw, mode="bicubic", antialias=True, align_corners=False)
        photo = photo.clamp(0, 1)
        if channels == 1:
            photo = (photo * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)  # ITU-R 601
        tiles = photo.unfold(2, size, stride).unfold(3, size, stride)  # (1, C, nh, nw, size, size)
        tiles = tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, channels, size, size)
        tiles = tiles[tiles.flatten(1).std(1) >= MIN_TILE_STD]
        hr.append(tiles)
        labels.append(torch.full((len(tiles),), offset + i, dtype=torch.int64))
    x = torch.cat(hr)
    lr = F.interpolate(x, scale_factor=1 / SCALE, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    return x.mul(2).sub(1).contiguous(), lr.mul(2).sub(1).contiguous(), torch.cat(labels)


@DATASETS.register("photo_tiles")
def load_photo_tiles(cfg: DataCfg, split: str) -> ImageDataset:
    """HR tiles of ``cfg.image_size`` px and their 4× downsampled inputs (``extras["lr"]``) from bundled photos."""
    check_split(split)
    if cfg.image_size % SCALE or cfg.image_size < 4 * SCALE:
        raise UserError(
            f"photo_tiles: image_size must be a multiple of {SCALE} and >= {4 * SCALE}, got {cfg.image_size}"
        )
    if cfg.channels not in (1, 3):
        raise UserError(f"channels must be 1 or 3, got {cfg.channels}")
    hr, lr, labels = _tiles(split, cfg.image_size, cfg.channels)
    names = TRAIN_PHOTOS + TEST_PHOTOS
    log.info(
        "photo_tiles/%s: %d tiles of %d px from %d photos", split, len(hr), cfg.image_size, len(set(labels.tolist()))
    )
    return ImageDataset(hr, labels, "photo_tiles", split, len(names), names, extras={"lr": lr})


def with_lr(ds: ImageDataset, scale: int = SCALE) -> ImageDataset:
    """``ds`` with ``extras["lr"]`` = its images bicubically downsampled by ``scale`` (antialiased)."""
    lr = F.interpolate(ds.images, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    return replace(ds, extras={**ds.extras, "lr": lr.clamp(-1, 1).contiguous()})


@DATASETS.register("fake_sr")
def load_fake_sr(cfg: DataCfg, split: str) -> ImageDataset:
    """The file-free ``fake`` blobs as a 4× SR task (tests, ``--dry-run``)."""
    if cfg.image_size % SCALE:
        raise UserError(f"fake_sr: image_size must be a multiple of {SCALE}, got {cfg.image_size}")
    return replace(with_lr(load_fake(cfg, split)), name="fake_sr")
