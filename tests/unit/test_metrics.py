"""Metrics against independent reference computations (scipy sqrtm FID, a hand-written unbiased MMD², known PSNRs)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor

from gancompress.errors import UserError
from gancompress.metrics import (
    EXTRACTORS,
    FID,
    HIGHER_IS_BETTER,
    KID,
    METRICS,
    class_coverage,
    class_histogram,
    class_kl,
    compute_image_metrics,
    feature_stats,
    fid_from_features,
    fidelity,
    frechet_distance,
    get_domain_extractor,
    kid_from_features,
    psnr,
    real_key,
    real_stats,
    train_domain_classifier,
)

# ---------------------------------------------------------------- references written independently of the package


def scipy_fid(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook FID (pytorch-fid): ||mu1-mu2||² + Tr(S1 + S2 - 2 sqrtm(S1 S2))."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(a, b) = (a·b/d + 1)^3, by explicit double loops."""
    d = x.shape[1]
    k = lambda a, b: (float(a @ b) / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


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


# ---------------------------------------------------------------- FID


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


def test_real_stats_cache(tmp_path) -> None:
    real = torch.randn(64, 1, 3, 3)
    ext = FlattenExtractor(9)
    key = real_key("abc123", 64, ext)
    assert key == f"abc123_64_flatten_{'0' * 16}"
    mu, sigma = real_stats(ext, real, key, cache_dir=tmp_path)
    assert (tmp_path / f"real_{key}.safetensors").exists()
    mu2, sigma2 = real_stats(ext, torch.zeros(64, 1, 3, 3), key, cache_dir=tmp_path)  # served from the cache
    assert torch.equal(mu, mu2) and torch.equal(sigma, sigma2)


# ---------------------------------------------------------------- KID


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


# ---------------------------------------------------------------- fidelity and class metrics


def test_psnr_known_values() -> None:
    a = torch.zeros(3, 3, 8, 8)
    b = torch.full((3, 3, 8, 8), 0.25)  # MSE 1/16, range 2 → 10·log10(4 · 16) = 18.0618 dB (exact in float32)
    assert psnr(a, b) == pytest.approx(10 * math.log10(64), abs=1e-12)
    c = torch.cat([torch.full((1, 3, 8, 8), -0.25), torch.full((1, 3, 8, 8), 1 / 32)])  # 18.06 dB and 36.12 dB
    assert psnr(torch.zeros(2, 3, 8, 8), c) == pytest.approx((10 * math.log10(64) + 10 * math.log10(4096)) / 2)
    assert psnr(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2), data_range=1.0) == pytest.approx(0.0, abs=1e-12)
    assert psnr(a, a) == pytest.approx(100.0)  # capped, finite
    f = fidelity(a, b)
    assert f["psnr"] == pytest.approx(18.0618, abs=1e-4)
    assert f["l1"] == pytest.approx(0.25) and f["mse"] == pytest.approx(1 / 16)
    assert HIGHER_IS_BETTER["psnr"] and not HIGHER_IS_BETTER["l1"]
    with pytest.raises(UserError):
        psnr(a, b[:2])


def test_class_metrics() -> None:
    assert class_coverage(torch.full((50,), 3), 10) == pytest.approx(0.1)
    assert class_coverage(torch.arange(100) % 10, 10) == 1.0
    logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 2]), 4).float()
    assert class_histogram(logits, 4).tolist() == [0.25, 0.5, 0.25, 0.0]
    uniform = torch.full((10,), 0.1)
    assert class_kl(uniform, uniform) == pytest.approx(0.0, abs=1e-12)
    collapsed = class_histogram(torch.zeros(10, dtype=torch.long), 10)
    assert class_kl(collapsed, uniform) > 5.0
    with pytest.raises(UserError):
        class_histogram(torch.tensor([0, 11]), 10)


def test_registries() -> None:
    assert "domain" in EXTRACTORS.names()
    assert {"fid", "kid", "psnr", "fidelity", "class_coverage", "class_kl"} <= set(METRICS.names())
    with pytest.raises(UserError, match="valid values"):
        METRICS.get("fidd")


# ---------------------------------------------------------------- domain feature extractor


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
