"""Tile generator samples into one image (a torchvision-free ``make_grid`` / ``save_image``).

Generators emit images in ``[-1, 1]`` (tanh output). The grid is laid out row-major, ``nrow`` images per row, with
``padding`` pixels of ``pad_value`` between and around them; empty cells of a last, partial row are filled with the pad
value too.

Example:
    >>> import torch
    >>> grid = make_grid(torch.zeros(10, 3, 32, 32), nrow=4)
    >>> grid.shape, grid.dtype
    ((104, 138, 3), dtype('uint8'))
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)

__all__ = ["make_grid", "sample_grid", "save_image_grid", "to_uint8"]


def to_uint8(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Map values in ``[-1, 1]`` to ``uint8`` in ``[0, 255]`` (clamped; NaN → mid-grey, ±Inf → the bounds).

    Args:
        x: Any-shaped array of floats, nominally in ``[-1, 1]``.

    Returns:
        ``np.uint8`` array of the same shape.

    Example:
        >>> to_uint8(np.array([-1.0, 0.0, 1.0, 7.0])).tolist()
        [0, 128, 255, 255]
    """
    a = x.detach().to("cpu", torch.float64).numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)
    a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.rint((np.clip(a, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def make_grid(images: torch.Tensor | np.ndarray, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile a batch of images into a single ``uint8`` array.

    Args:
        images: ``(N, C, H, W)`` (or a single ``(C, H, W)``) with values in ``[-1, 1]``; ``C`` is 1 or 3.
        nrow: Images per grid row (the last row may be partial).
        padding: Pixels between images and around the border.
        pad_value: Fill for padding and empty cells, in the same ``[-1, 1]`` range (``1.0`` = white).

    Returns:
        ``(H', W', 3)`` uint8 for RGB input, ``(H', W')`` for grayscale, where
        ``H' = rows * (H + padding) + padding`` and ``W' = min(nrow, N) * (W + padding) + padding``.

    Raises:
        ValueError: On a wrong rank, an empty batch, ``C`` not in ``{1, 3}``, ``nrow < 1`` or ``padding < 0``.

    Example:
        >>> make_grid(torch.ones(3, 1, 4, 4), nrow=2, padding=1).shape
        (11, 11)
    """
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"make_grid expects (N, C, H, W) images, got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    if n == 0:
        raise ValueError("make_grid got an empty batch (N == 0)")
    if c not in (1, 3):
        raise ValueError(f"make_grid supports 1 (grayscale) or 3 (RGB) channels, got C={c}")
    if nrow < 1 or padding < 0:
        raise ValueError(f"need nrow >= 1 and padding >= 0, got nrow={nrow}, padding={padding}")
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    tiles = to_uint8(x).transpose(0, 2, 3, 1)  # N, H, W, C
    fill = to_uint8(np.array(float(pad_value)))
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), fill, dtype=np.uint8)
    for i in range(n):
        top = padding + (i // cols) * (h + padding)
        left = padding + (i % cols) * (w + padding)
        grid[top : top + h, left : left + w] = tiles[i]
    return grid[..., 0] if c == 1 else grid


def save_image_grid(
    images: torch.Tensor | np.ndarray,
    path: str | Path,
    nrow: int = 8,
    scale: int = 1,
    padding: int = 2,
    pad_value: float = 1.0,
) -> Path:
    """Write a batch of images as one PNG grid (grayscale for ``C=1``, RGB for ``C=3``).

    Args:
        images: ``(N, C, H, W)`` in ``[-1, 1]``; see :func:`make_grid`.
        path: Output file; parent directories are created.
        nrow: Images per grid row.
        scale: Integer nearest-neighbour upscaling factor, so 32-px samples stay visible and crisp.
        padding: Pixels between images (before scaling).
        pad_value: Padding fill in ``[-1, 1]``.

    Returns:
        The written path.

    Raises:
        ValueError: If ``scale < 1`` (plus everything :func:`make_grid` raises).

    Example:
        >>> p = save_image_grid(torch.rand(16, 3, 32, 32) * 2 - 1, "/tmp/grid.png", nrow=4, scale=2)
    """
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=pad_value)
    if scale > 1:  # nearest neighbour == repeating pixels; exact and dependency-free
        grid = np.repeat(np.repeat(grid, int(scale), axis=0), int(scale), axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(grid)).save(path, format="PNG")  # 2-D → "L", (H, W, 3) → "RGB"
    log.debug("wrote %s (%dx%d)", path, grid.shape[1], grid.shape[0])
    return path


def sample_grid(
    g: torch.nn.Module, loss: Any, path: str | Path, device: str | torch.device, *, n: int = 64, seed: int = 4321
) -> Path:
    """Write ``n`` samples of ``g`` from ``loss.sample_input`` with a fixed seed as one grid (2× upscaled).

    The same seed for every model of a run, so the teacher's and each compressed generator's grids show the same
    noise / source images side by side. ``g`` is left in eval mode, as every caller scores it next.
    """
    g.eval()
    with torch.no_grad():
        images = g(*loss.sample_input(n, torch.Generator().manual_seed(seed), device))
    return save_image_grid(images.cpu(), path, nrow=8, scale=2)
