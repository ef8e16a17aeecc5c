"""gancompress.metrics.diversity against an independent reference: collapse, shuffling, logits, subsampling, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from gancompress.errors import UserError
from gancompress.metrics import (
    diversity_ratio,
    intra_class_diversity,
    mean_pairwise_distance,
)

# ----------------------------------------------------------------------------------------- intra-class diversity


def clustered(n_per: int, classes: int, d: int, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, d, generator=g, dtype=torch.float64) * 5
    labels = torch.arange(classes).repeat_interleave(n_per)
    return centers[labels] + torch.randn(len(labels), d, generator=g, dtype=torch.float64), labels


def test_diversity_reference_collapse_and_shuffle() -> None:
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert mean_pairwise_distance(x) == pytest.approx(10 / 3)
    assert intra_class_diversity(x[:2], torch.tensor([1, 1]), 2) == pytest.approx(5 / math.sqrt(2))
    feats, labels = clustered(30, 4, 8, 0)
    collapsed = feats[:1].repeat(120, 1)
    assert intra_class_diversity(collapsed, labels, 4) == 0.0
    real = intra_class_diversity(feats, labels, 4)
    shuffled = intra_class_diversity(feats, labels[torch.randperm(120, generator=torch.Generator().manual_seed(1))], 4)
    assert real < 0.5 * shuffled  # grouping by class matters: the classes are separate clusters
    ratio = diversity_ratio(collapsed, labels, feats, labels, 4)
    assert ratio["diversity"] == 0.0 and ratio["diversity_ratio"] == 0.0
    assert diversity_ratio(feats, labels, feats, labels, 4)["diversity_ratio"] == 1.0
    other, other_labels = clustered(30, 4, 8, 0)  # same distribution, same draw → same value
    assert diversity_ratio(other, other_labels, feats, labels, 4)["diversity_ratio"] == pytest.approx(1.0)


def test_diversity_logits_subsample_and_errors() -> None:
    feats, labels = clustered(50, 3, 4, 2)
    logits = F.one_hot(labels, 3).double()
    assert intra_class_diversity(feats, logits, 3) == intra_class_diversity(feats, labels, 3)
    a = intra_class_diversity(feats, labels, 3, max_per_class=10, seed=0)
    assert a == intra_class_diversity(feats, labels, 3, max_per_class=10, seed=0)
    assert a == pytest.approx(intra_class_diversity(feats, labels, 3), rel=0.3)
    # classes with < 2 samples are skipped
    assert intra_class_diversity(feats[:51], labels[:51], 3) == intra_class_diversity(feats[:50], labels[:50], 3)
    with pytest.raises(UserError, match="2 or more"):
        intra_class_diversity(feats[:3], torch.tensor([0, 1, 2]), 3)
    with pytest.raises(UserError, match="labels"):
        intra_class_diversity(feats, labels[:10], 3)
