"""gancompress.metrics (the package): registries and directions of every metric, and image metrics on domain
features."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from torch import Tensor

import gancompress.metrics
from gancompress.config import METRIC_NAMES, EvalCfg
from gancompress.errors import UserError
from gancompress.metrics import (
    EXTRACTORS,
    HIGHER_IS_BETTER,
    compute_image_metrics,
    coverage,
    density_coverage,
    fid_from_features,
    get_domain_extractor,
    precision,
    precision_recall,
    real_key,
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


# ------------------------------------------------------------------------------------ fidelity and class metrics


def test_registries() -> None:
    assert "domain" in EXTRACTORS.names()
    assert not hasattr(gancompress.metrics, "METRICS")  # nothing looked metrics up by name: the registry is gone
    assert set(METRIC_NAMES) == {"fid", "kid", "prdc", "class_coverage", "diversity", "fidelity"}
    assert EvalCfg().metrics == METRIC_NAMES


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


def test_compute_image_metrics_on_domain_features(trained, gratings, tmp_path) -> None:
    ext = trained["ext"]
    real, fake_good = gratings["x"], gratings["tx"]
    collapsed = gratings["tx"][gratings["ty"] == 0]
    metrics = ("fid", "kid", "class_coverage", "class_kl")
    key = real_key("f" * 16, len(real), ext)
    good = compute_image_metrics(fake_good, real, ext, metrics=metrics, real_key=key, cache_dir=tmp_path)
    bad = compute_image_metrics(collapsed, real, ext, metrics=metrics, real_key=key, cache_dir=tmp_path)
    assert set(good) == {"fid", "kid", "kid_std", "class_coverage", "class_kl"}
    assert good["fid"] < bad["fid"] and good["kid"] < bad["kid"]
    assert good["class_coverage"] >= 0.9 and bad["class_coverage"] <= 0.2
    assert good["class_kl"] < bad["class_kl"]
    assert good["fid"] == pytest.approx(fid_from_features(ext.extract(real), ext.extract(fake_good)), rel=1e-9)
    with pytest.raises(UserError, match="valid values"):
        compute_image_metrics(fake_good, real, ext, metrics=("psnr",))


# --------------------------------------------------------------- references written independently of the package


def sets(n_real: int, n_fake: int, d: int, shift: float, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_real, d)), rng.normal(size=(n_fake, d)) * scale + shift


# -------------------------------------------------------------------- registries and the missing-weights message


def test_registries_list_the_newer_metrics_and_extractors() -> None:
    new = {"precision", "recall", "density", "coverage", "ssim", "diversity"}
    assert all(HIGHER_IS_BETTER[name] for name in new)
    assert "inception" in EXTRACTORS.names() and "domain" in EXTRACTORS.names()
    real, fake = sets(30, 30, 3, 0.2, 1.0, 6)
    assert precision(real, fake) == precision_recall(real, fake)[0]
    assert coverage(real, fake) == density_coverage(real, fake)[1]
