"""gancompress.metrics.prd (precision / recall / density / coverage) against brute-force numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gancompress.metrics.prd as prd_mod
from gancompress.errors import UserError
from gancompress.metrics import (
    PRDC,
    density_coverage,
    knn_radii,
    prdc,
    precision_recall,
)
from tests.metrics.refs import FlattenExtractor, sets

# --------------------------------------------------------------- references written independently of the package


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


# ----------------------------------------------------------------------- precision / recall / density / coverage


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
