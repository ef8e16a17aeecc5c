"""gancompress.metrics.real_cache: real statistics are cached on disk and reused."""

from __future__ import annotations

import torch
from torch import Tensor

from gancompress.metrics import (
    real_key,
    real_stats,
)

# --------------------------------------------------------------- references written independently of the package


class FlattenExtractor:
    """Identity-ish extractor: features are the flattened pixels (float64)."""

    name = "flatten"
    weight_hash = "0" * 16

    def __init__(self, feat_dim: int) -> None:
        self.feat_dim = feat_dim

    def extract(self, images: Tensor, batch_size: int = 500) -> Tensor:
        return images.flatten(1).double()


# ----------------------------------------------------------------------------------------------------------- FID


def test_real_stats_cache(tmp_path) -> None:
    real = torch.randn(64, 1, 3, 3)
    ext = FlattenExtractor(9)
    key = real_key("abc123", 64, ext)
    assert key == f"abc123_64_flatten_{'0' * 16}"
    mu, sigma = real_stats(ext, real, key, cache_dir=tmp_path)
    assert (tmp_path / f"real_{key}.safetensors").exists()
    mu2, sigma2 = real_stats(ext, torch.zeros(64, 1, 3, 3), key, cache_dir=tmp_path)  # served from the cache
    assert torch.equal(mu, mu2) and torch.equal(sigma, sigma2)
