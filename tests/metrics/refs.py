"""Shared by the metrics tests, written independently of the package: a pixel-flattening feature extractor and
random feature sets.
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor


class FlattenExtractor:
    """Identity-ish extractor: features are the flattened pixels (float64)."""

    name = "flatten"
    weight_hash = "0" * 16

    def __init__(self, feat_dim: int) -> None:
        self.feat_dim = feat_dim

    def extract(self, images: Tensor, batch_size: int = 500) -> Tensor:
        return images.flatten(1).double()


def gaussian_feats(n: int, d: int, shift: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) / math.sqrt(d)
    return rng.normal(size=(n, d)) @ a + shift


def sets(n_real: int, n_fake: int, d: int, shift: float, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_real, d)), rng.normal(size=(n_fake, d)) * scale + shift
