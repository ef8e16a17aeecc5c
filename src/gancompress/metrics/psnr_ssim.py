"""SSIM computed exactly like ``skimage.metrics.structural_similarity`` defaults, batched in torch; PSNR re-export.

skimage's defaults (``gaussian_weights=False``, ``use_sample_covariance=True``): a uniform ``win_size``×``win_size``
window (7), K1 = 0.01, K2 = 0.03, local (co)variances scaled by N/(N−1) with N = win_size², and the mean of the
SSIM map over the *valid* region (the ``(win_size − 1) / 2`` border cropped — exactly the positions where the whole
window fits, i.e. ``avg_pool2d`` without padding). Multi-channel images: per channel, then averaged (skimage's
``channel_axis``). Wang et al. (2004) used an 11×11 Gaussian window instead; numbers from torchmetrics'
``StructuralSimilarityIndexMeasure`` (Gaussian by default) are therefore not comparable to these.

Example:
    >>> a = torch.rand(2, 3, 16, 16) * 2 - 1
    >>> ssim(a, a)
    1.0
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor

from gancompress.errors import UserError
from gancompress.metrics.fidelity import PSNR_CAP_DB, fidelity, psnr

logger = logging.getLogger(__name__)

#: Images per chunk: bounds the five float64 filtered maps for large batches of large images.
CHUNK_IMAGES = 64


def _check(a: Tensor, b: Tensor, win_size: int) -> None:
    if a.shape != b.shape:
        raise UserError(f"SSIM needs images of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() != 4 or a.shape[0] == 0:
        raise UserError(f"SSIM needs a non-empty (N, C, H, W) batch, got shape {tuple(a.shape)}")
    if win_size < 3 or win_size % 2 == 0:
        raise UserError(f"win_size must be odd and ≥ 3, got {win_size}")
    if min(a.shape[-2:]) < win_size:
        size = tuple(a.shape[-2:])
        raise UserError(f"SSIM with win_size={win_size} needs images of at least {win_size}×{win_size}, got {size}")


def _ssim_map_means(x: Tensor, y: Tensor, data_range: float, win_size: int, k1: float, k2: float) -> Tensor:
    """(N, C, H, W) float64 → (N, C) mean SSIM over the valid region of each channel."""
    n, c, h, w = x.shape
    x, y = x.reshape(n * c, 1, h, w), y.reshape(n * c, 1, h, w)
    # One pooling call for all five local moments: stack them along the channel axis.
    moments = F.avg_pool2d(torch.cat([x, y, x * x, y * y, x * y], dim=1), win_size, stride=1)
    ux, uy, uxx, uyy, uxy = moments.unbind(dim=1)
    cov_norm = win_size**2 / (win_size**2 - 1)  # sample covariance, skimage's use_sample_covariance=True
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(dim=1).reshape(n, c)


def ssim_per_image(
    a: Tensor,
    b: Tensor,
    data_range: float = 2.0,
    *,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Per-image SSIM (channel mean), float64 (N,), equal to skimage's ``structural_similarity`` per image.

    Args:
        a: (N, C, H, W) images (e.g. g_comp outputs in [-1, 1]).
        b: (N, C, H, W) reference images.
        data_range: max − min of the pixel range (2 for [-1, 1]).
        win_size: odd side of the uniform window.
        k1: luminance constant.
        k2: contrast constant.

    Example:
        >>> ssim_per_image(torch.zeros(3, 1, 8, 8), torch.zeros(3, 1, 8, 8)).tolist()
        [1.0, 1.0, 1.0]
    """
    _check(a, b, win_size)
    x_all, y_all = a.detach().cpu().double(), b.detach().cpu().double()
    outs = [
        _ssim_map_means(x_all[i : i + CHUNK_IMAGES], y_all[i : i + CHUNK_IMAGES], data_range, win_size, k1, k2)
        for i in range(0, x_all.shape[0], CHUNK_IMAGES)
    ]
    return torch.cat(outs).mean(dim=1)


def ssim(
    a: Tensor,
    b: Tensor,
    data_range: float = 2.0,
    *,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Mean over images of skimage-default SSIM (uniform 7×7 window, sample covariance, valid region).

    Args:
        a: (N, C, H, W) images (e.g. g_comp outputs in [-1, 1]).
        b: (N, C, H, W) reference images (e.g. g_orig outputs for the same inputs).
        data_range: max − min of the pixel range (2 for [-1, 1]).
        win_size: odd side of the uniform window.
        k1: luminance constant.
        k2: contrast constant.

    Returns:
        Mean SSIM in [-1, 1] (1 for identical images).

    Example:
        >>> x = torch.linspace(-1, 1, 64).reshape(1, 1, 8, 8)
        >>> round(ssim(x, 0.5 * x), 4)
        0.645
    """
    return float(ssim_per_image(a, b, data_range, win_size=win_size, k1=k1, k2=k2).mean())


def paired_scores(fake: Tensor, target: Tensor) -> dict[str, float]:
    """PSNR / SSIM / L1 of outputs against their paired ground truth (pix2pix's target photo, SR's HR image)."""
    out = {f"target_{k}": v for k, v in fidelity(fake, target).items()}
    if fake.shape[-1] >= 7 and fake.shape[-2] >= 7:
        out["target_ssim"] = ssim(fake, target)
    return out


__all__ = ["PSNR_CAP_DB", "paired_scores", "psnr", "ssim", "ssim_per_image"]
