"""Fixtures of the metrics tests: labelled grating images and a domain feature extractor trained on them (once per
test module, as before: the fixtures are module-scoped)."""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch import Tensor

from gancompress.metrics import get_domain_extractor


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
