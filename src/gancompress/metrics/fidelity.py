"""Teacher fidelity (g_comp(x) vs g_orig(x) on the same inputs) and class-distribution metrics (mode collapse).

Fidelity answers "does the compressed generator still draw what the original drew?"; it complements FID/KID, which
only compare distributions. The class metrics use the domain classifier's predictions on generated samples:
``class_coverage`` is the mode-collapse number (a generator stuck on one digit covers 1 of 10 classes → 0.1).

Example:
    >>> {k: round(v, 4) for k, v in fidelity(torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.25)).items()}
    {'psnr': 18.0618, 'l1': 0.25, 'mse': 0.0625}
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gancompress.errors import UserError

#: Per-image PSNR cap in dB. DECISION: identical images have infinite PSNR (skimage returns inf); a cap keeps the
#: mean over images finite and comparable (100 dB ≈ MSE of 4e-10 at data range 2, far below float32 noise).
PSNR_CAP_DB = 100.0


def _check_pair(a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise UserError(f"fidelity needs images of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() < 2 or a.shape[0] == 0:
        raise UserError(f"fidelity needs a non-empty batch (N, ...) of images, got shape {tuple(a.shape)}")


def psnr(a: Tensor, b: Tensor, data_range: float = 2.0) -> float:
    """Mean over images of per-image PSNR = 10·log10(data_range² / MSE), float64, capped at ``PSNR_CAP_DB``.

    Args:
        a: (N, ...) images (e.g. g_comp outputs in [-1, 1]).
        b: (N, ...) reference images (e.g. g_orig outputs).
        data_range: max − min of the pixel range (2 for [-1, 1]).

    Example:
        >>> round(psnr(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.2)), 4)  # MSE 0.04 → 10·log10(4/0.04)
        20.0
    """
    _check_pair(a, b)
    diff = a.detach().cpu().double() - b.detach().cpu().double()
    mse = diff.flatten(1).pow(2).mean(dim=1)
    floor = data_range**2 * 10 ** (-PSNR_CAP_DB / 10)
    per_image = 10.0 * torch.log10(data_range**2 / mse.clamp_min(floor))
    return float(per_image.mean())


def fidelity(g_comp_images: Tensor, g_orig_images: Tensor, data_range: float = 2.0) -> dict[str, float]:
    """Fidelity of compressed-generator outputs to the original generator's outputs on the same inputs.

    Returns plain floats (directions are in ``gancompress.metrics.HIGHER_IS_BETTER``: psnr ↑, l1 ↓, mse ↓).

    Args:
        g_comp_images: (N, C, H, W) outputs of g_comp.
        g_orig_images: (N, C, H, W) outputs of g_orig for the same latents / input images.
        data_range: pixel range width (2 for [-1, 1]).

    Returns:
        ``{"psnr": dB (mean per-image), "l1": mean |diff|, "mse": mean squared diff}``.

    Example:
        >>> sorted(fidelity(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8)))
        ['l1', 'mse', 'psnr']
    """
    _check_pair(g_comp_images, g_orig_images)
    diff = g_comp_images.detach().cpu().double() - g_orig_images.detach().cpu().double()
    return {
        "psnr": psnr(g_comp_images, g_orig_images, data_range),
        "l1": float(diff.abs().mean()),
        "mse": float(diff.pow(2).mean()),
    }


def to_labels(logits_or_labels: Tensor | np.ndarray, num_classes: int) -> Tensor:
    x = torch.as_tensor(logits_or_labels).detach().cpu()
    if x.dim() == 2:
        if x.shape[1] != num_classes:
            raise UserError(f"logits have {x.shape[1]} columns but num_classes is {num_classes}")
        return x.argmax(dim=1)
    if x.dim() != 1:
        raise UserError(f"expected (N,) labels or (N, num_classes) logits, got shape {tuple(x.shape)}")
    if x.is_floating_point():
        raise UserError("1-D class labels must be integers; pass 2-D logits to take the argmax")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= num_classes):
        raise UserError(f"labels must lie in [0, {num_classes}), got range [{int(x.min())}, {int(x.max())}]")
    return x.long()


def class_histogram(logits_or_labels: Tensor | np.ndarray, num_classes: int) -> Tensor:
    """Class shares (float64, sums to 1) from (N,) labels or (N, num_classes) logits (argmax).

    Example:
        >>> class_histogram(torch.tensor([0, 0, 1, 3]), 4).tolist()
        [0.5, 0.25, 0.0, 0.25]
    """
    labels = to_labels(logits_or_labels, num_classes)
    if labels.numel() == 0:
        raise UserError("class histogram of an empty set")
    counts = torch.bincount(labels, minlength=num_classes).double()
    return counts / counts.sum()


def class_coverage(pred_labels: Tensor | np.ndarray, num_classes: int, min_fraction: float = 0.1) -> float:
    """Fraction of classes whose share among generated samples is ≥ ``min_fraction / num_classes``.

    1.0 means every class is generated at least at a tenth of its uniform rate; 1/num_classes means full collapse.

    Example:
        >>> class_coverage(torch.zeros(100, dtype=torch.long), 10)
        0.1
    """
    hist = class_histogram(pred_labels, num_classes)
    threshold = min_fraction / num_classes
    # Round-off guard: a share exactly at the threshold (k/N == f/C) must count as covered.
    return float((hist >= threshold - 1e-12).double().mean())


def min_share_ratio(pred_hist: Tensor | np.ndarray, data_hist: Tensor | np.ndarray, floor: float = 0.01) -> float:
    """The smallest ratio (generated share ÷ real share) over the classes that hold ≥ ``floor`` of the real data.

    1.0 for matching histograms, 0.0 when a class of the data is never generated; ``floor`` keeps classes the
    reference barely contains (classifier mistakes) from deciding it.

    Example:
        >>> round(min_share_ratio(torch.tensor([0.7, 0.3, 0.0]), torch.tensor([0.5, 0.5, 0.0])), 6)
        0.6
    """
    q = torch.as_tensor(pred_hist).detach().cpu().double()
    p = torch.as_tensor(data_hist).detach().cpu().double()
    if p.shape != q.shape or p.dim() != 1 or p.sum() <= 0 or q.sum() <= 0:
        raise UserError(
            f"class histograms must be 1-D of equal length and non-empty, got {tuple(q.shape)}, {tuple(p.shape)}"
        )
    p, q = p / p.sum(), q / q.sum()
    present = p >= floor
    return float((q[present] / p[present]).min()) if bool(present.any()) else 1.0


def class_kl(pred_hist: Tensor | np.ndarray, data_hist: Tensor | np.ndarray, eps: float = 1e-6) -> float:
    """KL(data ‖ generated) between class histograms (counts or shares), with additive ``eps`` smoothing.

    Large when the generator misses classes present in the data (a dropped mode costs ≈ p_c·log(p_c/eps)).

    Example:
        >>> class_kl(torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.5]))
        0.0
    """
    q = torch.as_tensor(pred_hist).detach().cpu().double()
    p = torch.as_tensor(data_hist).detach().cpu().double()
    if p.shape != q.shape or p.dim() != 1:
        raise UserError(f"class histograms must be 1-D of equal length, got {tuple(q.shape)} and {tuple(p.shape)}")
    if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
        raise UserError("class histograms must be non-negative and non-empty")
    p = (p / p.sum() + eps) / (1 + eps * p.numel())
    q = (q / q.sum() + eps) / (1 + eps * q.numel())
    return max(float((p * (p / q).log()).sum()), 0.0)
