"""Fréchet distance (FID) between Gaussian fits of real and generated features.

FID = ||mu_r − mu_g||² + Tr(S_r + S_g − 2 (S_r S_g)^{1/2})  (Heusel et al., 2017). The math is in pure float64
functions; :class:`FID` is the torchmetrics-style stateful wrapper (built on ``FrechetInceptionDistance`` with our
own feature module, so accumulation and DDP sync are torchmetrics').

Example:
    >>> fid_from_features(torch.randn(500, 8), torch.randn(500, 8) + 1.0)  # doctest: +SKIP
    8.1...
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from gancompress.errors import UserError
from gancompress.metrics.features import FeatureExtractor

logger = logging.getLogger(__name__)

ArrayLike = Tensor | np.ndarray


def _np64(x: ArrayLike) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root via eigh (tiny negative eigenvalues from round-off clipped to 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    Uses Tr((S1 S2)^{1/2}) = Σ sqrt(eig(S1^{1/2} S2 S1^{1/2})): the inner matrix is symmetric PSD, so this is
    stable where ``scipy.linalg.sqrtm(S1 @ S2)`` returns complex noise for singular covariances, and equal to it
    otherwise.

    Args:
        mu1: (D,) mean of the first set.
        sigma1: (D, D) covariance of the first set.
        mu2: (D,) mean of the second set.
        sigma2: (D, D) covariance of the second set.

    Returns:
        The squared Fréchet distance (≥ 0).

    Example:
        >>> frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))
        2.0
    """
    m1, m2, s1, s2 = _np64(mu1), _np64(mu2), _np64(sigma1), _np64(sigma2)
    if m1.shape != m2.shape or s1.shape != s2.shape or s1.shape != (m1.shape[0], m1.shape[0]):
        raise ValueError(f"shape mismatch: mu {m1.shape} vs {m2.shape}, sigma {s1.shape} vs {s2.shape}")
    root1 = _psd_sqrt(s1)
    inner = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = m1 - m2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    # DECISION: clamp the ±1e-12 round-off of identical sets to 0; the true value is a squared distance.
    return max(value, 0.0)


def feature_stats(features: ArrayLike) -> tuple[Tensor, Tensor]:
    """Mean and unbiased (n − 1) covariance of (N, D) features, as float64 tensors.

    Example:
        >>> mu, sigma = feature_stats(torch.randn(100, 4))
        >>> mu.dtype, sigma.shape
        (torch.float64, torch.Size([4, 4]))
    """
    x = torch.as_tensor(_np64(features))
    if x.dim() != 2 or x.shape[0] < 2:
        raise UserError(f"need an (N, D) feature matrix with N ≥ 2 to fit a Gaussian, got {tuple(x.shape)}")
    mu = x.mean(dim=0)
    xc = x - mu
    return mu, (xc.T @ xc) / (x.shape[0] - 1)


def fid_from_features(real_feats: ArrayLike, fake_feats: ArrayLike) -> float:
    """FID between two (N, D) feature sets (float64 throughout).

    Example:
        >>> round(fid_from_features(torch.randn(200, 3), torch.randn(200, 3) + 10.0)) > 250
        True
    """
    mu_r, s_r = feature_stats(real_feats)
    mu_f, s_f = feature_stats(fake_feats)
    return frechet_distance(mu_r, s_r, mu_f, s_f)


class _ExtractorModule(nn.Module):
    """Adapts a :class:`FeatureExtractor` to torchmetrics' ``feature=`` module (batched, no-grad, float64)."""

    def __init__(self, extractor: FeatureExtractor, batch_size: int) -> None:
        super().__init__()
        if isinstance(extractor, nn.Module):
            self.extractor = extractor
        else:
            object.__setattr__(self, "extractor", extractor)
        self.num_features = int(extractor.feat_dim)
        self.batch_size = batch_size

    def forward(self, images: Tensor) -> Tensor:
        return self.extractor.extract(images, batch_size=self.batch_size).to(images.device)


class FID(FrechetInceptionDistance):
    """Stateful FID on an arbitrary extractor; real statistics survive :meth:`reset` (only fakes are cleared).

    Args:
        extractor: a :class:`FeatureExtractor` (e.g. the domain CNN).
        batch_size: feature-extraction batch size.

    Example:
        >>> fid = FID(extractor)  # doctest: +SKIP
        >>> fid.update(real_images, real=True); fid.update(fake_images, real=False)  # doctest: +SKIP
        >>> fid.compute()  # doctest: +SKIP
        12.3
    """

    higher_is_better = False

    def __init__(self, extractor: FeatureExtractor, *, batch_size: int = 500) -> None:
        super().__init__(feature=_ExtractorModule(extractor, batch_size), reset_real_features=False)
        self.extractor_name = extractor.name

    def update(self, images: Tensor, real: bool) -> None:  # type: ignore[override]
        """Extract features of ``images`` and add them to the real or the fake accumulator."""
        super().update(images, real=real)

    def set_real_stats(self, mu: Tensor, sigma: Tensor, n: int) -> None:
        """Load cached real statistics (mean, unbiased covariance, count) instead of real images."""
        if n < 2:
            raise UserError(f"real statistics need n ≥ 2 samples, got {n}")
        device = self.real_features_sum.device
        mu, sigma = mu.double().to(device), sigma.double().to(device)
        self.real_features_sum = mu * n
        self.real_features_cov_sum = sigma * (n - 1) + n * torch.outer(mu, mu)
        self.real_features_num_samples = torch.tensor(n, dtype=torch.long, device=device)
        self._computed = None  # invalidate torchmetrics' cached compute() value

    def _stats(self, prefix: str) -> tuple[Tensor, Tensor]:
        n = getattr(self, f"{prefix}_features_num_samples")
        if int(n) < 2:
            raise UserError(f"FID needs at least 2 {prefix} samples, got {int(n)}")
        mu = getattr(self, f"{prefix}_features_sum") / n
        cov = (getattr(self, f"{prefix}_features_cov_sum") - n * torch.outer(mu, mu)) / (n - 1)
        return mu, cov

    def compute(self) -> float:  # type: ignore[override]
        """FID between the accumulated real and fake features (our float64 eigen-method, see frechet_distance)."""
        mu_r, s_r = self._stats("real")
        mu_f, s_f = self._stats("fake")
        return frechet_distance(mu_r, s_r, mu_f, s_f)
