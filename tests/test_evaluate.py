"""gancompress.evaluate: the Evaluator's reproducibility, seed intervals, collapse separation and size stats, and an
evaluation protocol that cannot be gamed (docs/method.md §7): copying the input scores far worse than translating,
inputs never belong to the FID reference, inputs never repeat, precision / recall compare equal-sized sets, and the
feature extractor is never trained on the set it scores against.

The protocol tests use real data (scikit-learn's digits), with two hand-made generators per translation family:
``Identity`` returns its input image unchanged; ``Oracle`` returns real *training* images of the class it is asked
for — a perfect translator as far as any distribution metric can tell, whose outputs are disjoint from the held-out
reference.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import gancompress as gc
from gancompress.errors import UserError
from gancompress.evaluate import Evaluator, evaluate
from gancompress.families.contract import draw_batch, stratified_halves
from gancompress.families.cyclegan import CycleDirectionLoss
from gancompress.families.pix2pix import Pix2PixLoss
from gancompress.families.sampling import generate
from gancompress.families.stargan import StarGANLoss
from gancompress.metrics.summary import size_stats, summarize
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


class _Stored(nn.Module):
    """A stand-in generator whose output is read from a stored image buffer (``lin``: so it has parameters)."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("images", images)
        self.lin = nn.Linear(1, 1)


class Collapsed(_Stored):
    """Always returns the same real image: the extreme mode collapse."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.images.expand(z.shape[0], *self.images.shape)


class Replay(_Stored):
    """Replays held-out-like real images: a 'perfect' generator for the metric."""

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


DOMAINS = (0, 3, 7)  # digits of three shapes: the StarGAN domains


SIZE = 16


class Identity(nn.Module):
    """Returns the input image: the 'translation' that changes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 1)

    def forward(self, x: torch.Tensor, *condition: torch.Tensor) -> torch.Tensor:
        return x


class Oracle(nn.Module):
    """Returns a real training image of the requested class (one-hot condition, or a fixed class)."""

    def __init__(self, bank: dict[int, torch.Tensor], classes: tuple[int, ...]) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.bank, self.classes = bank, classes

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        cls = onehot.argmax(1).tolist() if onehot is not None else [0] * x.shape[0]
        # a deterministic pick that depends on the input, so outputs vary like a translator's
        key = (x.flatten(1).sum(1) * 1000).long().abs().tolist()
        return torch.stack(
            [self.bank[self.classes[c]][k % len(self.bank[self.classes[c]])] for c, k in zip(cls, key, strict=False)]
        )


def _bank(train: gc.ImageDataset, classes: tuple[int, ...]) -> dict[int, torch.Tensor]:
    return {c: train.images[train.labels == c] for c in classes}


@pytest.fixture(scope="module")
def cache() -> None:
    """The default cache ($GANCOMPRESS_CACHE or ~/.cache/gancompress): the digits classifier is trained once per
    machine and shared with the other test modules (every test here scores with the same one)."""
    return None


@pytest.fixture(scope="module")
def digits() -> tuple[gc.ImageDataset, gc.ImageDataset]:
    cfg = gc.DataCfg(name="digits", image_size=SIZE)
    return gc.load_dataset(cfg, "train"), gc.load_dataset(cfg, "test")


def test_stargan_identity_scores_far_worse_than_a_translator(digits, cache) -> None:
    train_all, _ = digits
    cfg = gc.DataCfg(name="digits", image_size=SIZE, classes=DOMAINS)
    train, test = gc.load_dataset(cfg, "train"), gc.load_dataset(cfg, "test")
    loss = StarGANLoss(DOMAINS, (1, SIZE, SIZE))
    ev = Evaluator(train_all, test, num_samples=200, cache_dir=cache)
    metrics = ("fid", "kid", "prdc", "class_coverage")
    oracle = ev.evaluate(Oracle(_bank(train, DOMAINS), DOMAINS), loss, metrics=metrics)
    identity = ev.evaluate(Identity(), loss, metrics=metrics)
    assert identity["fid"] >= 3 * oracle["fid"], (identity["fid"], oracle["fid"])
    assert identity["target_accuracy"] < 0.2 < 0.8 < oracle["target_accuracy"]
    assert set(identity["fid_per_target"]) == {str(c) for c in DOMAINS}
    assert identity["reference_mode"] == "per_target" and identity["num_reference"] < len(test)


def test_stargan_inputs_never_belong_to_the_reference(digits) -> None:
    _, _test_all = digits
    test = gc.load_dataset(gc.DataCfg(name="digits", image_size=SIZE, classes=DOMAINS), "test")
    loss = StarGANLoss(DOMAINS, (1, SIZE, SIZE))
    inputs_idx, reference_idx = loss.eval_split(test)
    assert not set(inputs_idx.tolist()) & set(reference_idx.tolist())
    x = loss.eval_inputs(test, loss.eval_pool_size(test), torch.Generator().manual_seed(0), "cpu").inputs[0]
    reference = test.images[reference_idx].flatten(1)
    # no input image equals any reference image
    assert not bool((torch.cdist(x.flatten(1), reference) < 1e-6).any())
    assert len(torch.unique(x.flatten(1), dim=0)) == len(x)  # and no input repeats


def test_pooled_scoring_of_the_previous_protocol_rewarded_copying(digits, cache) -> None:
    """Why the protocol changed: pooling every output against all held-out images (inputs included) gives the
    identity a near-perfect FID — the hole this file closes."""
    train_all, _ = digits
    test = gc.load_dataset(gc.DataCfg(name="digits", image_size=SIZE, classes=DOMAINS), "test")
    ev = Evaluator(train_all, test, num_samples=len(test), cache_dir=cache)
    pooled_identity = ev.score_images(test.images, ("fid",))["fid"]  # every held-out image sent "somewhere"
    loss = StarGANLoss(DOMAINS, (1, SIZE, SIZE))
    assert pooled_identity < 0.1 * ev.evaluate(Identity(), loss, metrics=("fid",))["fid"]


def test_cyclegan_identity_scores_far_worse(digits, cache) -> None:
    train_all, _ = digits
    cfg = gc.DataCfg(name="digits_unpaired", image_size=SIZE, classes=(3, 7))
    test = gc.load_dataset(cfg, "test")
    loss = CycleDirectionLoss("a2b", (1, SIZE, SIZE))
    ev = Evaluator(gc.load_dataset(cfg, "train"), test, num_samples=1000, cache_dir=cache)
    oracle = ev.evaluate(Oracle(_bank(train_all, (7,)), (7,)), loss, metrics=("fid",))
    identity = ev.evaluate(Identity(), loss, metrics=("fid",))
    assert identity["fid"] >= 3 * oracle["fid"]
    assert identity["target_accuracy"] < 0.2 < 0.8 < oracle["target_accuracy"]
    assert oracle["num_samples"] <= len(test)  # capped at the distinct source images, never repeated


def test_pix2pix_copying_the_edge_map_scores_far_worse(digits, cache) -> None:
    train_all, _ = digits
    cfg = gc.DataCfg(name="digits_edges", image_size=SIZE)
    test = gc.load_dataset(cfg, "test")
    loss = Pix2PixLoss(1, SIZE)
    ev = Evaluator(train_all, test, num_samples=1000, cache_dir=cache)

    class GroundTruth(nn.Module):  # the paired target of each edge map: what pix2pix should produce
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(1, 1)
            self.lookup = {tuple(e.flatten().tolist()): i for i, e in enumerate(test.extras["source"])}

        def forward(self, edges: torch.Tensor) -> torch.Tensor:
            return test.images[[self.lookup[tuple(e.flatten().tolist())] for e in edges]]

    truth = ev.evaluate(GroundTruth(), loss, metrics=("fid",))
    identity = ev.evaluate(Identity(), loss, metrics=("fid",))
    assert truth["target_l1"] == 0.0
    assert identity["fid"] >= 3 * max(truth["fid"], 0.05)


def test_draw_batch_refuses_to_repeat(digits) -> None:
    _, test = digits
    batch = draw_batch(test, len(test), torch.Generator().manual_seed(0))
    assert len(torch.unique(batch["index"])) == len(test)
    with pytest.raises(UserError, match="inputs would repeat"):
        draw_batch(test, len(test) + 1, torch.Generator().manual_seed(0))


def test_stratified_halves_are_disjoint_and_balanced(digits) -> None:
    _, test = digits
    a, b = stratified_halves(test)
    assert len(a) + len(b) == len(test) and not set(a.tolist()) & set(b.tolist())
    for c in range(10):
        na, nb = int((test.labels[a] == c).sum()), int((test.labels[b] == c).sum())
        assert abs(na - nb) <= 1


def test_precision_recall_use_equal_set_sizes(digits, cache, monkeypatch) -> None:
    import gancompress.evaluate as evaluate_module

    train, test = digits
    seen: list[tuple[int, int]] = []
    real_prdc = evaluate_module.prdc

    def spy(real, fake, **kwargs):  # the sizes prdc compares after its subsampling to max_samples
        seen.append((min(len(real), kwargs["max_samples"]), min(len(fake), kwargs["max_samples"])))
        return real_prdc(real, fake, **kwargs)

    monkeypatch.setattr(evaluate_module, "prdc", spy)
    ev = Evaluator(train, test, num_samples=100, cache_dir=cache)
    ev.score_images(test.images[:100], ("prdc",))
    assert len(test) > 100 and seen == [(100, 100)]


def test_evaluate_refuses_to_train_its_extractor_on_the_reference(digits) -> None:
    _, test = digits

    class G(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(64, SIZE * SIZE)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.lin(z)).view(-1, 1, SIZE, SIZE)

    from gancompress.families.dcgan import DCGANLoss

    with pytest.raises(UserError, match="needs train_data"):
        evaluate(G(), test, loss=DCGANLoss(64), metrics=("fid",))
