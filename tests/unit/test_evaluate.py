"""Evaluator: reproducibility, seed intervals, collapse separation, size stats."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import gancompress as gc
from gancompress.evaluate import Evaluator, generate, size_stats, summarize
from gancompress.pruning import MaskSet


def test_summarize_matches_student_t() -> None:
    from scipy import stats

    vals = [2.0, 2.5, 3.5, 4.0]
    out = summarize(vals)
    mean, sd = sum(vals) / 4, float(torch.tensor(vals).std())
    assert out["mean"] == pytest.approx(mean)
    assert out["std"] == pytest.approx(sd)
    assert out["ci95"] == pytest.approx(stats.t.ppf(0.975, 3) * sd / 2)
    assert math.isnan(summarize([1.0])["ci95"])


class Collapsed(nn.Module):
    """Always returns the same real image: the extreme mode collapse."""

    def __init__(self, image: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("image", image)
        self.lin = nn.Linear(1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.image.expand(z.shape[0], *self.image.shape)


class Replay(nn.Module):
    """Replays held-out-like real images: a 'perfect' generator for the metric."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("images", images)
        self.lin = nn.Linear(1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        idx = (z[:, 0].abs() * 1e6).long() % self.images.shape[0]
        return self.images[idx]


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> tuple[Evaluator, gc.ImageDataset]:
    cfg = gc.DataCfg(name="fake")
    train, test = gc.load_dataset(cfg, "train"), gc.load_dataset(cfg, "test")
    ev = Evaluator(train, test, num_samples=200, cache_dir=tmp_path_factory.mktemp("cache"))
    return ev, train


def test_same_seed_identical_scores_and_collapse_separated(evaluator: tuple[Evaluator, gc.ImageDataset]) -> None:
    ev, train = evaluator
    loss = gc.get_family("dcgan").make_loss(gc.get_family("dcgan").build(gc.ModelCfg(nz=4), gc.DataCfg())[0], None)
    good, bad = Replay(train.images), Collapsed(train.images[0])
    a, b = ev.evaluate(good, loss, seed=3), ev.evaluate(good, loss, seed=3)
    assert a == b
    collapsed = ev.evaluate(bad, loss, seed=3)
    assert collapsed["fid"] > 10 * a["fid"]
    assert collapsed["class_coverage"] == pytest.approx(0.1)
    assert a["class_coverage"] == 1.0
    assert a["num_samples"] == 200 and a["extractor"] == "domain"


def test_evaluate_seeds_gives_intervals(evaluator: tuple[Evaluator, gc.ImageDataset]) -> None:
    ev, train = evaluator
    loss = gc.get_family("dcgan").make_loss(gc.get_family("dcgan").build(gc.ModelCfg(nz=4), gc.DataCfg())[0], None)
    out = ev.evaluate_seeds(Replay(train.images), loss, seeds=[0, 1, 2])
    assert out["seeds"] == [0, 1, 2] and len(out["fid_values"]) == 3
    assert out["fid"] == pytest.approx(sum(out["fid_values"]) / 3)
    assert out["fid_ci95"] > 0


def test_generate_is_reproducible_and_restores_mode() -> None:
    fam = gc.get_family("dcgan")
    g, _ = fam.build(gc.ModelCfg(nz=8, ngf=4), gc.DataCfg())
    loss = fam.make_loss(g, None)
    g.train()
    x1, x2 = generate(g, loss, 10, seed=1, batch_size=4), generate(g, loss, 10, seed=1, batch_size=3)
    assert torch.allclose(x1, x2, atol=1e-6) and g.training


def test_size_stats_counts_masks() -> None:
    g, _ = gc.get_family("dcgan").build(gc.ModelCfg(nz=8, ngf=4), gc.DataCfg())
    MaskSet.attach(g).update(0.5)
    st = size_stats(g)
    assert st["sparsity"] == pytest.approx(0.5, abs=1e-3) and st["nonzero"] < st["params"]


def test_evaluator_fid_kid_match_direct_formulas(evaluator: tuple[Evaluator, gc.ImageDataset]) -> None:
    """The torchmetrics-style path equals the pure functions on the same features (scipy-checked in test_metrics)."""
    from gancompress.metrics.fid import fid_from_features
    from gancompress.metrics.kid import kid_from_features

    ev, train = evaluator
    fake = train.images[:200]
    got = ev.score_images(fake, ("fid", "kid"), seed=5)
    real_f, fake_f = ev.extractor.extract(ev.test.images), ev.extractor.extract(fake)
    assert got["fid"] == pytest.approx(fid_from_features(real_f, fake_f), rel=1e-6)  # cov via running sums
    assert got["kid"] == pytest.approx(kid_from_features(real_f, fake_f, subset_size=200, seed=5)[0], rel=1e-6)
