"""gancompress.metrics.kid against a hand-written unbiased MMD²; the metric class matches the function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gancompress.metrics import (
    KID,
    kid_from_features,
)
from tests.metrics.refs import FlattenExtractor, gaussian_feats

# --------------------------------------------------------------- references written independently of the package


def direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(a, b) = (a·b/d + 1)^3, by explicit double loops."""
    d = x.shape[1]
    k = lambda a, b: (float(a @ b) / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


# ----------------------------------------------------------------------------------------------------------- KID


def test_kid_matches_direct_unbiased_mmd() -> None:
    x, y = gaussian_feats(30, 5, 0.0, 4), gaussian_feats(30, 5, 0.5, 5)
    mean, std = kid_from_features(x, y, subsets=1, subset_size=30)
    assert mean == pytest.approx(direct_mmd2(x, y), rel=1e-9)
    assert std == 0.0
    assert kid_from_features(x, y, subsets=5, subset_size=10, seed=7) == kid_from_features(
        x, y, subsets=5, subset_size=10, seed=7
    )
    # subset size clipped to min(n_real, n_fake): 1 subset of all 20 fakes vs 20 of 30 reals
    m, _ = kid_from_features(x, y[:20], subsets=1, subset_size=1000)
    assert np.isfinite(m)


def test_kid_class_matches_function() -> None:
    torch.manual_seed(1)
    real, fake = torch.randn(40, 1, 2, 3), torch.randn(40, 1, 2, 3) + 0.5
    kid = KID(FlattenExtractor(6), subsets=1, subset_size=40)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    mean, _ = kid.compute()
    x64, y64 = real.flatten(1).double().numpy(), fake.flatten(1).double().numpy()
    assert mean == pytest.approx(direct_mmd2(x64, y64), rel=1e-9)
    kid.reset()  # real features survive, fakes are cleared
    kid.update(fake[:20], real=False)
    assert kid.compute() == kid_from_features(x64, y64[:20], subsets=1, subset_size=40)
