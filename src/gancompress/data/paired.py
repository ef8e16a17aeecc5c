"""Paired edges → image data for pix2pix (docs/method.md §6: an edges2shoes-like task on Fashion-MNIST).

``<base>_edges`` (``fashion_mnist_edges``, ``digits_edges``, ``fake_edges``) is the ``<base>`` dataset at the
configured size whose images are the *targets* and whose ``extras["source"]`` holds each image's Canny edge map
(scikit-image, 1 channel, edge = +1 on -1). Edges are computed once per (split, size, channels) from the resized
images and cached on disk (``$GANCOMPRESS_CACHE/edges``, bit-packed) and in memory.

Example:
    >>> from gancompress.config import DataCfg
    >>> from gancompress.data import load_dataset
    >>> ds = load_dataset(DataCfg(name="fake_edges", image_size=16), "test")
    >>> tuple(ds.extras["source"].shape), ds.extras["source"].unique().tolist()
    ((256, 1, 16, 16), [-1.0, 1.0])
"""

from __future__ import annotations

import functools
import io
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from gancompress.config import DataCfg
from gancompress.data.datasets import DATASETS, ImageDataset, check_split, load_dataset
from gancompress.files import atomic_write_bytes, default_cache_dir

log = logging.getLogger(__name__)

#: Canny's Gaussian σ in pixels of the 32 px images. DECISION: 1.0 keeps outlines and main seams (collars, soles)
#: and drops texture; 0.5 keeps print/check patterns, 1.5 breaks outlines (checked by eye on the test split).
CANNY_SIGMA = 1.0
EDGE_BASES = ("fashion_mnist", "digits", "fake")


def canny_edges(images: torch.Tensor, sigma: float = CANNY_SIGMA) -> torch.Tensor:
    """Binary Canny edge maps ``(N, 1, H, W)`` in {-1, +1} of images ``(N, C, H, W)`` in [-1, 1] (channel mean).

    Example:
        >>> x = -torch.ones(1, 1, 16, 16); x[..., 4:12, 4:12] = 1.0
        >>> e = canny_edges(x)
        >>> bool(e[0, 0, 8, 4] == 1.0), bool(e[0, 0, 8, 8] == -1.0)
        (True, True)
    """
    from skimage.feature import canny

    gray = ((images.mean(dim=1) + 1.0) / 2.0).clamp(0.0, 1.0).numpy().astype(np.float64)
    edges = np.stack([canny(im, sigma=sigma) for im in gray]) if len(gray) else np.zeros(gray.shape, bool)
    return torch.from_numpy(edges).unsqueeze(1).float().mul_(2.0).sub_(1.0)


def _cache_path(fingerprint: str, sigma: float) -> Path:
    return default_cache_dir() / "edges" / f"{fingerprint}_canny{sigma:g}.npy"


_MEMORY: dict[tuple[str, float], torch.Tensor] = {}  # (fingerprint, σ) → edges, the last few splits loaded


def _edges_cached(fingerprint: str, sigma: float, images: torch.Tensor) -> torch.Tensor:
    """Edges of ``images`` (whose fingerprint is ``fingerprint``), from memory, the disk cache, or computed."""
    key = (fingerprint, sigma)
    if key not in _MEMORY:
        if len(_MEMORY) >= 4:
            _MEMORY.pop(next(iter(_MEMORY)))
        _MEMORY[key] = _edges_from_disk_or_compute(fingerprint, sigma, images)
    return _MEMORY[key]


def _edges_from_disk_or_compute(fingerprint: str, sigma: float, images: torch.Tensor) -> torch.Tensor:
    path = _cache_path(fingerprint, sigma)
    shape = (images.shape[0], 1, *images.shape[-2:])
    if path.is_file():
        try:
            bits = np.load(path)
            flat = np.unpackbits(bits)[: int(np.prod(shape))]
            return torch.from_numpy(flat.reshape(shape).astype(np.float32)).mul_(2.0).sub_(1.0)
        except (OSError, ValueError) as e:  # a corrupt cache entry is recomputed, not fatal
            log.warning("ignoring unreadable edge cache %s: %s", path, e)
    log.info("computing Canny edges (σ=%g) of %d images (cached in %s)", sigma, len(images), path.parent)
    edges = canny_edges(images, sigma)
    buf = io.BytesIO()
    np.save(buf, np.packbits(edges.numpy() > 0))
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as e:  # read-only cache: keep going without it
        log.warning("could not cache edges in %s: %s", path, e)
    return edges


def load_edges_dataset(base: str, cfg: DataCfg, split: str) -> ImageDataset:
    """``base`` at ``cfg.image_size`` / ``cfg.channels`` (targets) with ``extras["source"]`` = their Canny edges."""
    check_split(split)
    # classes / limit are applied by load_dataset afterwards (to images, labels and extras alike), so the cache holds
    # one entry per (base, split, size, channels)
    full = load_dataset(replace(cfg, name=base, classes=None, limit=None), split)
    edges = _edges_cached(full.fingerprint, CANNY_SIGMA, full.images)
    return replace(full, name=f"{base}_edges", extras={**full.extras, "source": edges})


for _base in EDGE_BASES:
    _loader = functools.partial(load_edges_dataset, _base)
    _loader.derived = True  # type: ignore[attr-defined]  # the base split carves val (datasets.load_dataset)
    DATASETS.add(f"{_base}_edges", _loader)
