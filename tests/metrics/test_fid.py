"""gancompress.metrics.fid against scipy's sqrtm and textbook values; the metric class keeps real statistics on
reset."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from gancompress.metrics import (
    FID,
    feature_stats,
    fid_from_features,
    frechet_distance,
)
from tests.metrics.refs import FlattenExtractor, gaussian_feats

# --------------------------------------------------------------- references written independently of the package


def scipy_fid(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook FID (pytorch-fid): ||mu1-mu2||² + Tr(S1 + S2 - 2 sqrtm(S1 S2))."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


# ----------------------------------------------------------------------------------------------------------- FID


def test_fid_matches_scipy_sqrtm() -> None:
    x, y = gaussian_feats(800, 24, 0.0, 1), gaussian_feats(900, 24, 0.3, 2)
    ref = scipy_fid(x, y)
    assert fid_from_features(x, y) == pytest.approx(ref, rel=1e-6)
    mu1, s1 = feature_stats(torch.from_numpy(x))
    assert mu1.dtype == torch.float64 and s1.dtype == torch.float64
    assert torch.allclose(s1, torch.from_numpy(np.cov(x, rowvar=False)), atol=1e-12)


def test_fid_self_zero_far_large_and_textbook_example() -> None:
    x = gaussian_feats(500, 16, 0.0, 3)
    assert abs(fid_from_features(x, x)) < 1e-6
    assert fid_from_features(x, x + 10.0) == pytest.approx(16 * 100.0, rel=1e-9)  # pure mean shift: ||Δμ||²
    assert frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)) == pytest.approx(2 + 2 * (1 + 4 - 4))


def test_fid_class_on_torchmetrics_agrees_and_keeps_real_on_reset() -> None:
    torch.manual_seed(0)
    real, fake = torch.randn(300, 1, 4, 4), torch.randn(250, 1, 4, 4) * 1.3 + 0.2
    ext = FlattenExtractor(16)
    fid = FID(ext, batch_size=64)
    assert fid.higher_is_better is False
    fid.update(real[:100], real=True)
    fid.update(real[100:], real=True)
    fid.update(fake, real=False)
    expected = fid_from_features(real.flatten(1), fake.flatten(1))
    assert isinstance(fid.compute(), float)
    assert fid.compute() == pytest.approx(expected, rel=1e-6)
    fid.reset()  # real statistics survive, fakes are cleared
    fid.update(real, real=False)
    assert abs(fid.compute()) < 1e-6
    # cached real statistics injected instead of real images
    fid2 = FID(ext)
    mu, sigma = feature_stats(real.flatten(1))
    fid2.set_real_stats(mu, sigma, 300)
    fid2.update(fake, real=False)
    assert fid2.compute() == pytest.approx(expected, rel=1e-6)
