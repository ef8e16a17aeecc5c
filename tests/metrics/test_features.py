"""gancompress.metrics.features: the domain feature extractor learns, caches and trains deterministically."""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch import Tensor

from gancompress.errors import UserError
from gancompress.metrics import (
    get_domain_extractor,
    train_domain_classifier,
)

# --------------------------------------------------------------- references written independently of the package


def grating_set(n_per_class: int, seed: int, size: int = 16) -> tuple[Tensor, Tensor]:
    """10 classes = 10 grating orientations (18° apart) under a Gaussian blob at a random shift, plus noise."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    imgs, labels = [], []
    for c in range(10):
        theta = math.pi * c / 10
        for _ in range(n_per_class):
            cx, cy = (torch.rand(2, generator=g) * 6 + (size / 2 - 3)).tolist()
            phase = float(torch.rand(1, generator=g)) * 2 * math.pi
            wave = torch.cos(2 * math.pi / 5 * (xx * math.cos(theta) + yy * math.sin(theta)) + phase)
            blob = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 4.0**2))
            imgs.append((wave * blob + 0.2 * torch.randn(size, size, generator=g)).clamp(-1, 1))
            labels.append(c)
    return torch.stack(imgs)[:, None], torch.tensor(labels)


# -------------------------------------------------------------------------------------- domain feature extractor


@pytest.fixture(scope="module")
def gratings() -> dict[str, Tensor]:
    x, y = grating_set(30, seed=0)
    tx, ty = grating_set(20, seed=1)
    return {"x": x, "y": y, "tx": tx, "ty": ty}


@pytest.fixture(scope="module")
def trained(gratings, tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("cache")
    t0 = time.perf_counter()
    ext = get_domain_extractor(
        gratings["x"], gratings["y"], 10, fingerprint="f" * 16, test_images=gratings["tx"],
        test_labels=gratings["ty"], seed=0, cache_dir=cache,
    )  # fmt: skip
    return {"ext": ext, "seconds": time.perf_counter() - t0, "cache": cache}


def test_domain_classifier_learns(trained, gratings) -> None:
    ext = trained["ext"]
    assert ext.accuracy > 0.9, ext.accuracy
    assert trained["seconds"] < 60  # ~3 s on an idle 2-core CPU
    feats = ext.extract(gratings["tx"], batch_size=77)
    assert feats.shape == (200, 128) and feats.dtype == torch.float64
    assert ext.classify(gratings["tx"][:5]).shape == (5, 10)
    assert ext.name == "domain" and ext.feat_dim == 128 and ext.num_classes == 10
    assert len(ext.weight_hash) == 16
    with pytest.raises(UserError, match="channels"):
        ext.extract(torch.zeros(2, 3, 16, 16))


def test_domain_cache_round_trip(trained, gratings) -> None:
    ext, cache = trained["ext"], trained["cache"]
    files = sorted(p.name for p in cache.iterdir())
    assert files == [f"domain_{'f' * 16}_v1_0.json", f"domain_{'f' * 16}_v1_0.safetensors"]
    t0 = time.perf_counter()
    again = get_domain_extractor(gratings["x"][:0], gratings["y"][:0], 10, fingerprint="f" * 16, cache_dir=cache)
    assert time.perf_counter() - t0 < 2  # loaded, not retrained (no data to train on anyway)
    assert again.weight_hash == ext.weight_hash
    assert again.accuracy == ext.accuracy
    assert torch.equal(again.extract(gratings["tx"]), ext.extract(gratings["tx"]))


def test_domain_training_is_deterministic(trained, gratings) -> None:
    again = train_domain_classifier(
        gratings["x"], gratings["y"], 10, test_images=gratings["tx"], test_labels=gratings["ty"], seed=0
    )
    assert again.weight_hash == trained["ext"].weight_hash
