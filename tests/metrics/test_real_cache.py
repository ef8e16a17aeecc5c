"""gancompress.metrics.real_cache: real statistics are cached on disk and reused."""

from __future__ import annotations

import torch

from gancompress.metrics import (
    real_key,
    real_stats,
)
from tests.metrics.refs import FlattenExtractor

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
