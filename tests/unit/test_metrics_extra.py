"""PRDC, SSIM, diversity and the Inception extractor against independent references (numpy loops, skimage)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity
from torch import Tensor

import gancompress.metrics.inception as inception_mod
import gancompress.metrics.prd as prd_mod
from gancompress.errors import UserError
from gancompress.metrics import (
    EXTRACTORS,
    HIGHER_IS_BETTER,
    METRICS,
    PRDC,
    density_coverage,
    diversity_ratio,
    fid_from_features,
    inception_available,
    intra_class_diversity,
    knn_radii,
    mean_pairwise_distance,
    prdc,
    precision_recall,
    psnr,
    ssim,
    ssim_per_image,
)
from gancompress.metrics.psnr_ssim import psnr as psnr_reexport

# ---------------------------------------------------------------- references written independently of the package


def np_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def np_radii(x: np.ndarray, k: int) -> np.ndarray:
    """k-th nearest *other* point: sorted row including the zero self-distance, index k."""
    return np.sort(np_dist(x, x), axis=1)[:, k]


def np_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    r_real, r_fake = np_radii(real, k), np_radii(fake, k)
    d = np_dist(fake, real)  # (F, R)
    prec = np.mean([any(d[j, i] <= r_real[i] for i in range(len(real))) for j in range(len(fake))])
    rec = np.mean([any(d[j, i] <= r_fake[j] for j in range(len(fake))) for i in range(len(real))])
    return float(prec), float(rec)


def np_density_coverage(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    r_real = np_radii(real, k)
    d = np_dist(real, fake)  # (R, F)
    dens = np.mean([sum(d[i, j] < r_real[i] for i in range(len(real))) for j in range(len(fake))]) / k
    cov = np.mean([d[i].min() < r_real[i] for i in range(len(real))])
    return float(dens), float(cov)


class FlattenExtractor:
    name = "flatten"
    weight_hash = "0" * 16

    def __init__(self, feat_dim: int) -> None:
        self.feat_dim = feat_dim

    def extract(self, images: Tensor, batch_size: int = 500) -> Tensor:
        return images.flatten(1).double()


def sets(n_real: int, n_fake: int, d: int, shift: float, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_real, d)), rng.normal(size=(n_fake, d)) * scale + shift


# ---------------------------------------------------------------- precision / recall / density / coverage


@pytest.mark.parametrize(("seed", "k", "shift", "scale"), [(0, 3, 0.5, 1.3), (1, 1, 0.0, 0.5), (2, 5, 1.0, 1.0)])
def test_prdc_equal_brute_force(seed: int, k: int, shift: float, scale: float) -> None:
    real, fake = sets(30, 25, 5, shift, scale, seed)
    p, r = precision_recall(real, fake, k)
    d, c = density_coverage(real, fake, k)
    assert (p, r) == np_precision_recall(real, fake, k)
    assert (d, c) == np_density_coverage(real, fake, k)
    assert 0 < p < 1 or 0 < r < 1  # the sets overlap partially: a non-trivial case


def test_prdc_chunking_and_dtype_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    real, fake = sets(60, 45, 7, 0.3, 1.2, 3)
    full = prdc(real, fake)
    monkeypatch.setattr(prd_mod, "CHUNK_ELEMENTS", 7)  # 1-row chunks
    assert prdc(torch.from_numpy(real), torch.from_numpy(fake)) == full
    assert prdc(real, fake, k_pr=4, k_dc=2) == {
        **dict(zip(("precision", "recall"), np_precision_recall(real, fake, 4), strict=True)),
        **dict(zip(("density", "coverage"), np_density_coverage(real, fake, 2), strict=True)),
    }


def test_prdc_identical_and_disjoint_sets() -> None:
    x = torch.randn(80, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert density_coverage(x, x)[1] == 1.0
    assert density_coverage(x, x)[0] > 0.5
    far = x + 1e3
    assert precision_recall(x, far) == (0.0, 0.0)
    assert density_coverage(x, far) == (0.0, 0.0)


def test_prdc_collapse_and_radii() -> None:
    real = torch.randn(100, 4, generator=torch.Generator().manual_seed(1))
    collapsed = real[:1].repeat(50, 1)  # every sample is the same real image
    p, r = precision_recall(real, collapsed)
    assert p == 1.0 and r <= 0.02  # on the manifold, but covers almost nothing
    assert density_coverage(real, collapsed)[1] <= 0.05
    line = torch.tensor([[0.0], [1.0], [3.0], [3.0]], dtype=torch.float64)
    assert knn_radii(line, 1).tolist() == [1.0, 1.0, 0.0, 0.0]  # exact duplicates are neighbours
    assert knn_radii(line, 2).tolist() == [3.0, 2.0, 2.0, 2.0]


def test_prdc_subsample_is_seeded() -> None:
    real, fake = sets(300, 300, 3, 0.5, 1.0, 4)
    a = prdc(real, fake, max_samples=100, seed=0)
    assert a == prdc(real, fake, max_samples=100, seed=0)
    assert a != prdc(real, fake, max_samples=100, seed=1)
    assert prdc(real, fake, max_samples=1000) == prdc(real, fake)


def test_prdc_bad_input() -> None:
    with pytest.raises(UserError, match="more than 3"):
        precision_recall(torch.randn(3, 2), torch.randn(10, 2))
    with pytest.raises(ValueError, match="equal D"):
        density_coverage(torch.randn(10, 2), torch.randn(10, 3))
    with pytest.raises(UserError, match="k must be"):
        precision_recall(torch.randn(10, 2), torch.randn(10, 2), k=0)


def test_prdc_metric_class_keeps_real_on_reset() -> None:
    g = torch.Generator().manual_seed(5)
    real, fake = torch.randn(40, 1, 2, 2, generator=g), torch.randn(30, 1, 2, 2, generator=g) + 0.5
    m = PRDC(FlattenExtractor(4))
    assert m.higher_is_better is True
    m.update(real[:20], real=True)
    m.update(real[20:], real=True)
    m.update(fake, real=False)
    assert m.compute() == prdc(real.flatten(1), fake.flatten(1))
    m.reset()
    m.update(real, real=False)
    assert m.compute()["precision"] == 1.0
    with pytest.raises(UserError, match="both real and generated"):
        PRDC(FlattenExtractor(4)).compute()


# ---------------------------------------------------------------- SSIM / PSNR


def skimage_mean_ssim(a: Tensor, b: Tensor, **kw: int) -> float:
    return float(
        np.mean(
            [
                structural_similarity(x.numpy(), y.numpy(), data_range=2.0, channel_axis=0, **kw)
                for x, y in zip(a.double(), b.double(), strict=True)
            ]
        )
    )


def structured(n: int, c: int, h: int, w: int, seed: int) -> Tensor:
    """Gradients, gratings and blobs plus a little noise, in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    out = []
    for i in range(n):
        f = 2 + i
        img = torch.stack([torch.cos(f * math.pi * (xx * math.cos(j + i) + yy * math.sin(j + i))) for j in range(c)])
        img = 0.6 * img + 0.3 * torch.exp(-(xx**2 + yy**2) * f) + 0.05 * torch.randn(c, h, w, generator=g)
        out.append(img.clamp(-1, 1))
    return torch.stack(out).double()


@pytest.mark.parametrize("win_size", [7, 3])
def test_ssim_matches_skimage(win_size: int) -> None:
    g = torch.Generator().manual_seed(0)
    rnd_a = torch.rand(4, 3, 23, 19, generator=g, dtype=torch.float64) * 2 - 1
    rnd_b = (rnd_a + 0.3 * torch.randn(4, 3, 23, 19, generator=g, dtype=torch.float64)).clamp(-1, 1)
    st_a = structured(3, 1, 32, 32, 1)
    st_b = F.avg_pool2d(st_a, 3, stride=1, padding=1) * 0.9 + 0.05  # blurred, dimmed, shifted
    for a, b in [(rnd_a, rnd_b), (st_a, st_b), (structured(2, 3, 16, 24, 2), structured(2, 3, 16, 24, 3))]:
        ref = skimage_mean_ssim(a, b, win_size=win_size)
        assert ssim(a, b, win_size=win_size) == pytest.approx(ref, abs=1e-6)
    per = ssim_per_image(rnd_a, rnd_b)
    assert per.shape == (4,) and per.dtype == torch.float64
    assert float(per[1]) == pytest.approx(skimage_mean_ssim(rnd_a[1:2], rnd_b[1:2]), abs=1e-6)


def test_ssim_properties_and_errors() -> None:
    a = structured(2, 3, 16, 16, 4)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a.float(), a.flip(-1).float()) < 0.5
    with pytest.raises(UserError, match="at least 7×7"):
        ssim(torch.zeros(1, 1, 6, 6), torch.zeros(1, 1, 6, 6))
    with pytest.raises(UserError, match="same shape"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))
    with pytest.raises(UserError, match="odd"):
        ssim(a, a, win_size=4)


def test_psnr_known_values_and_reexport() -> None:
    fidelity_mod = importlib.import_module(
        "gancompress.metrics.fidelity"
    )  # the package re-exports a function of that name
    assert psnr_reexport is psnr is fidelity_mod.psnr  # one implementation
    z = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    assert psnr(z, torch.full_like(z, 0.2)) == pytest.approx(20.0, abs=1e-9)  # 10·log10(4 / 0.04)
    assert psnr(z, torch.full_like(z, 0.1)) == pytest.approx(26.020599913279625, abs=1e-9)  # 10·log10(4 / 0.01)
    assert psnr(z, torch.full_like(z, 0.1), data_range=1.0) == pytest.approx(20.0, abs=1e-9)


# ---------------------------------------------------------------- intra-class diversity


def clustered(n_per: int, classes: int, d: int, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, d, generator=g, dtype=torch.float64) * 5
    labels = torch.arange(classes).repeat_interleave(n_per)
    return centers[labels] + torch.randn(len(labels), d, generator=g, dtype=torch.float64), labels


def test_diversity_reference_collapse_and_shuffle() -> None:
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert mean_pairwise_distance(x) == pytest.approx(10 / 3)
    assert intra_class_diversity(x[:2], torch.tensor([1, 1]), 2) == pytest.approx(5 / math.sqrt(2))
    feats, labels = clustered(30, 4, 8, 0)
    collapsed = feats[:1].repeat(120, 1)
    assert intra_class_diversity(collapsed, labels, 4) == 0.0
    real = intra_class_diversity(feats, labels, 4)
    shuffled = intra_class_diversity(feats, labels[torch.randperm(120, generator=torch.Generator().manual_seed(1))], 4)
    assert real < 0.5 * shuffled  # grouping by class matters: the classes are separate clusters
    ratio = diversity_ratio(collapsed, labels, feats, labels, 4)
    assert ratio["diversity"] == 0.0 and ratio["diversity_ratio"] == 0.0
    assert diversity_ratio(feats, labels, feats, labels, 4)["diversity_ratio"] == 1.0
    other, other_labels = clustered(30, 4, 8, 0)  # same distribution, same draw → same value
    assert diversity_ratio(other, other_labels, feats, labels, 4)["diversity_ratio"] == pytest.approx(1.0)


def test_diversity_logits_subsample_and_errors() -> None:
    feats, labels = clustered(50, 3, 4, 2)
    logits = F.one_hot(labels, 3).double()
    assert intra_class_diversity(feats, logits, 3) == intra_class_diversity(feats, labels, 3)
    a = intra_class_diversity(feats, labels, 3, max_per_class=10, seed=0)
    assert a == intra_class_diversity(feats, labels, 3, max_per_class=10, seed=0)
    assert a == pytest.approx(intra_class_diversity(feats, labels, 3), rel=0.3)
    # classes with < 2 samples are skipped
    assert intra_class_diversity(feats[:51], labels[:51], 3) == intra_class_diversity(feats[:50], labels[:50], 3)
    with pytest.raises(UserError, match="2 or more"):
        intra_class_diversity(feats[:3], torch.tensor([0, 1, 2]), 3)
    with pytest.raises(UserError, match="labels"):
        intra_class_diversity(feats, labels[:10], 3)


# ---------------------------------------------------------------- registries and the missing-weights message


def test_registries() -> None:
    new = {"precision", "recall", "density", "coverage", "ssim", "diversity"}
    assert new <= set(METRICS.names())
    assert all(HIGHER_IS_BETTER[name] for name in new)
    assert "inception" in EXTRACTORS.names() and "domain" in EXTRACTORS.names()
    real, fake = sets(30, 30, 3, 0.2, 1.0, 6)
    assert METRICS.get("precision")(real, fake) == precision_recall(real, fake)[0]
    assert METRICS.get("coverage")(real, fake) == density_coverage(real, fake)[1]


def test_missing_inception_is_one_line_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv(inception_mod.ENV_VAR, raising=False)
    monkeypatch.setattr(inception_mod, "PACKAGE", "gancompress_no_such_package")
    assert not inception_mod.inception_available()
    for factory in (inception_mod.get_inception_extractor, EXTRACTORS.get("inception")):
        with pytest.raises(UserError) as err:
            factory()
        assert str(err.value) == inception_mod.MISSING_MESSAGE and "\n" not in str(err.value)
    monkeypatch.setenv(inception_mod.ENV_VAR, str(tmp_path / "absent.pt"))
    with pytest.raises(UserError, match="is not a file"):
        inception_mod.get_inception_extractor()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torchscript archive")
    monkeypatch.setenv(inception_mod.ENV_VAR, str(bad))
    with pytest.raises(UserError, match="corrupt Inception weights file"):
        inception_mod.get_inception_extractor()


# ---------------------------------------------------------------- the Inception network (slow on CPU: few images)


@pytest.fixture(scope="module")
def inception() -> inception_mod.InceptionExtractor:
    if not inception_available():
        pytest.skip(inception_mod.MISSING_MESSAGE)
    return inception_mod.get_inception_extractor("cpu")


def digits_32() -> Tensor:
    from sklearn.datasets import load_digits

    x = torch.from_numpy(load_digits().images).float()[:, None] / 8.0 - 1.0  # [0, 16] → [-1, 1]
    return F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)


@pytest.mark.needs_inception
def test_inception_shape_determinism_and_channels(inception: inception_mod.InceptionExtractor) -> None:
    assert inception.name == "inception" and inception.feat_dim == 2048 and len(inception.weight_hash) == 16
    x = digits_32()[:2]
    f1 = inception.extract(x)
    assert f1.shape == (2, 2048) and f1.dtype == torch.float64
    assert torch.equal(f1, inception.extract(x))
    assert torch.allclose(f1, inception.extract(x.repeat(1, 3, 1, 1), batch_size=1), atol=1e-4)
    assert (f1 >= 0).all()  # post-ReLU average pool
    assert inception_mod.to_inception_input(x).shape == (2, 3, 299, 299)
    # uint8 255 → 1.0 up to float rounding of the bilinear weights (which vary with the thread split)
    white = inception_mod.to_inception_input(torch.full((1, 1, 8, 8), 255, dtype=torch.uint8))
    assert torch.allclose(white, torch.ones_like(white), atol=1e-6, rtol=0)
    assert inception.extract(torch.zeros(0, 1, 32, 32)).shape == (0, 2048)


@pytest.mark.needs_inception
def test_inception_fid_same_distribution_much_smaller_than_noise(inception: inception_mod.InceptionExtractor) -> None:
    n = 12  # ~36 Inception passes at ~5–7 images/s on 2 CPU cores
    g = torch.Generator().manual_seed(0)
    digits = digits_32()[torch.randperm(1797, generator=g)[: 2 * n]]
    noise = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
    fa, fb, fn = inception.extract(digits[:n]), inception.extract(digits[n:]), inception.extract(noise)
    same, different = fid_from_features(fa, fb), fid_from_features(fa, fn)
    assert same < 0.4 * different, (same, different)
