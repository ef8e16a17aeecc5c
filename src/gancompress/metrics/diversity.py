"""Intra-class diversity: mean pairwise feature distance among samples of the same (predicted) class.

Class coverage catches a generator that drops whole classes; intra-class diversity catches the subtler collapse
*within* a class (every "3" drawn the same way). Samples are grouped by the domain classifier's predicted class
(for real data the true labels work too), the mean pairwise L2 distance is taken inside each class with ≥ 2
samples, and the per-class values are averaged with equal weight per class. Distances are divided by sqrt(D) so
values are comparable across feature sizes. ``diversity_ratio = fake / real`` is the number to read: ≈ 1 healthy,
≪ 1 collapse (above 1 means more spread than the data, e.g. noisy samples).

Example:
    >>> intra_class_diversity(torch.zeros(100, 16), torch.zeros(100, dtype=torch.long), 1)  # fully collapsed
    0.0
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor

from gancompress.errors import UserError
from gancompress.metrics.fidelity import to_labels

logger = logging.getLogger(__name__)


def mean_pairwise_distance(x: Tensor) -> float:
    """Mean L2 distance over the n(n−1)/2 unordered pairs of rows of ``x`` (n ≥ 2), float64.

    Example:
        >>> mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]]))
        3.3333333333333335
    """
    x = torch.as_tensor(x).detach().cpu().double()
    n = x.shape[0]
    if n < 2:
        raise UserError(f"mean pairwise distance needs at least 2 samples, got {n}")
    d = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")  # exact zeros for identical rows
    return float(d.triu(diagonal=1).sum() / (n * (n - 1) / 2))


def intra_class_diversity(
    features: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    num_classes: int,
    max_per_class: int = 200,
    seed: int = 0,
) -> float:
    """Mean over classes (with ≥ 2 samples) of the mean pairwise feature distance / sqrt(D).

    Args:
        features: (N, D) extractor features.
        labels: (N,) integer classes, or (N, num_classes) logits (argmax is taken) — for generated samples, the
            domain classifier's predictions.
        num_classes: number of classes.
        max_per_class: at most this many samples per class (a seeded random subset; bounds the O(n²) cost).
        seed: subset seed.

    Returns:
        Non-negative float (0 when every class is a single repeated sample).

    Example:
        >>> x = torch.tensor([[0.0], [2.0], [5.0], [5.0]])
        >>> intra_class_diversity(x, torch.tensor([0, 0, 1, 1]), 2)  # class 0: 2.0, class 1: 0.0
        1.0
    """
    x = torch.as_tensor(features).detach().cpu().double()
    if x.dim() != 2:
        raise UserError(f"need an (N, D) feature matrix, got shape {tuple(x.shape)}")
    y = to_labels(labels, num_classes)
    if y.shape[0] != x.shape[0]:
        raise UserError(f"{x.shape[0]} feature rows but {y.shape[0]} labels")
    if max_per_class < 2:
        raise UserError(f"max_per_class must be ≥ 2, got {max_per_class}")
    gen = torch.Generator().manual_seed(seed)
    per_class: list[float] = []
    for c in range(num_classes):
        idx = (y == c).nonzero().squeeze(1)
        if idx.numel() < 2:
            continue
        if idx.numel() > max_per_class:
            idx = idx[torch.randperm(idx.numel(), generator=gen)[:max_per_class]]
        per_class.append(mean_pairwise_distance(x[idx]))
    if not per_class:
        raise UserError("intra-class diversity needs at least one class with 2 or more samples")
    logger.debug("intra-class diversity over %d classes: %s", len(per_class), per_class)
    return float(np.mean(per_class)) / float(np.sqrt(x.shape[1]))


def diversity_ratio(
    fake_features: Tensor | np.ndarray,
    fake_labels: Tensor | np.ndarray,
    real_features: Tensor | np.ndarray,
    real_labels: Tensor | np.ndarray,
    num_classes: int,
    max_per_class: int = 200,
    seed: int = 0,
) -> dict[str, float]:
    """Generated vs real intra-class diversity and their ratio.

    Returns:
        ``{"diversity": fake, "diversity_real": real, "diversity_ratio": fake / real}`` (ratio NaN if real is 0).

    Example:
        >>> x, y = torch.randn(60, 8), torch.arange(60) % 3
        >>> diversity_ratio(x, y, x, y, 3)["diversity_ratio"]
        1.0
    """
    fake = intra_class_diversity(fake_features, fake_labels, num_classes, max_per_class, seed)
    real = intra_class_diversity(real_features, real_labels, num_classes, max_per_class, seed)
    ratio = fake / real if real > 0 else float("nan")
    return {"diversity": fake, "diversity_real": real, "diversity_ratio": ratio}
