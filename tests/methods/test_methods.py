"""Every Table 1 row as a method strategy (docs/method.md §4): declarations honoured, losses as defined, loop support.

Tiny DCGANs (nz=16, ngf=ndf=8, 16 px) on the file-free ``fake`` dataset, 3 steps each, one CPU thread.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gancompress as gc
from gancompress.config import MethodCfg, PruneCfg
from gancompress.methods import METHODS, create_method
from gancompress.methods.baselines._distill import feature_points, output_distance
from gancompress.methods.baselines.em_prune import EmPrune
from gancompress.methods.baselines.small_dense_scratch import matched_width, small_generator
from gancompress.pruning import MASK_BUFFER_NAMES, MaskSet, count_parameters

DATA_CFG = gc.DataCfg(name="fake", image_size=16)


MODEL_CFG = gc.ModelCfg(nz=16, ngf=8, ndf=8)


SPARSITY = 0.5


STEPS = 3


TABLE1 = {
    "dense": "a",
    "self_supervised": "b",
    "small_dense_scratch": "c",
    "small_dense_scratch_trained_d": "c′",
    "oneshot_finetune": "d",
    "agp_finetune": "e",
    "agp_scratch": "f",
    "oneshot_distill": "g",
    "oneshot_distill_adv": "h",
    "distill_fixed_d": "i",
    "adversarial_distill": "j",
    "gan_kd": "k",
    "lit": "l",
    "em_prune": "m",
    "prune_g_and_d": "n",
}


PAPER_FID = {  # docs/method.md §4 Table 1, quoted in each new row's module docstring
    "small_dense_scratch": "72.821",
    "agp_finetune": "35.677",
    "agp_scratch": "84.941",
    "oneshot_distill": "45.461",
    "oneshot_distill_adv": "38.985",
    "distill_fixed_d": "15.182",
    "adversarial_distill": "92.721",
    "gan_kd": "103.094",
    "lit": "194.026",
    "em_prune": "159.767",
    "prune_g_and_d": "46.453",
}


# the terms each row's G / D steps must log (beyond "g/loss", "d/loss")
G_TERMS = {
    "dense": {"g/gen"},
    "self_supervised": {"g/gc", "g/dc", "g/gen", "g/gen_orig"},
    "small_dense_scratch": {"g/gen"},
    "small_dense_scratch_trained_d": {"g/gen"},
    "oneshot_finetune": {"g/gen"},
    "agp_finetune": {"g/gen"},
    "agp_scratch": {"g/gen"},
    "oneshot_distill": {"g/distill"},
    "oneshot_distill_adv": {"g/gen", "g/distill"},
    "distill_fixed_d": {"g/gen", "g/distill"},
    "adversarial_distill": {"g/gen"},
    "gan_kd": {"g/gen", "g/distill"},
    "lit": {"g/feat", "g/distill"},
    "em_prune": {"g/gen", "g/gc", "g/gen_orig"},
    "prune_g_and_d": {"g/gc", "g/dc", "g/gen", "g/gen_orig"},
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data() -> gc.ImageDataset:
    return gc.load_dataset(DATA_CFG, "train")


def make_gan(seed: int = 0, model: gc.ModelCfg = MODEL_CFG, data: gc.DataCfg = DATA_CFG) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    return gc.get_family("dcgan").build(model, data)


def weights(module: nn.Module) -> dict[str, torch.Tensor]:
    """state_dict without mask buffers, cloned."""
    return {
        k: v.detach().clone() for k, v in module.state_dict().items() if k.rpartition(".")[2] not in MASK_BUFFER_NAMES
    }


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)


#: registered methods beyond the 15 rows, and the row each stands for (tested in tests/methods/baselines/)
EXTRA_ROWS = {"same_widths_scratch": "c"}  # row c at channel granularity: the pruned widths, trained from scratch


def test_all_table1_rows_registered() -> None:
    assert set(METHODS.names()) == set(TABLE1) | set(EXTRA_ROWS)
    rows = {**TABLE1, **EXTRA_ROWS}
    for name in METHODS.names():
        cls = METHODS.get(name)
        doc = importlib.import_module(cls.__module__).__doc__
        assert cls.name == name and f"row {rows[name]} — ``{name}``" in doc, name
        if name in PAPER_FID:
            assert PAPER_FID[name] in doc, name
        # rows from random init get the teacher's full budget (docs/method.md §4)
        assert (cls.budget == "full") == (cls.g_init == "random"), name


# -------------------------------------------------------------------------------------------- every row, 3 steps


@pytest.fixture(scope="module")
def runs(data: gc.ImageDataset) -> dict[str, dict]:
    """Compress with every registered method; record g_comp / D as the pipeline hands them to ``setup``."""
    out: dict[str, dict] = {}
    g_orig, d_orig = make_gan()
    before = {"g": weights(g_orig), "d": weights(d_orig)}
    for name in METHODS.names():
        cls = METHODS.get(name)
        seen: dict = {}
        original = cls.setup

        def spy(self, g_comp, g_o, d, loss, _seen=seen, _original=original):
            _seen["g"] = weights(g_comp)
            _seen["d"] = weights(d) if d is not None else None
            _seen["g_orig"] = weights(g_o)
            return _original(self, g_comp, g_o, d, loss)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(cls, "setup", spy)
            res = gc.compress(
                g_orig,
                d_orig,
                data,
                method=name,
                prune=PruneCfg(sparsity=SPARSITY, update_every=1),
                train=gc.TrainCfg(steps=STEPS, batch_size=8, log_every=1),
                seed=0,
            )
        out[name] = {"res": res, "setup": seen}
    out["_before"] = before
    out["_gan"] = (g_orig, d_orig)
    return out


@pytest.mark.parametrize("name", sorted(TABLE1))
def test_method_runs_and_logs_finite_terms(runs: dict, name: str) -> None:
    res = runs[name]["res"]
    cls = METHODS.get(name)
    assert res.train.steps == STEPS and len(res.train.history) == STEPS
    for row in res.train.history:
        assert all(math.isfinite(v) for v in row.values()), row
        assert {"g/loss", *G_TERMS[name]} <= set(row), (name, sorted(row))
        has_d_step = cls.d_init != "none" and cls.train_d
        assert ("d/loss" in row) == has_d_step, (name, sorted(row))
        if has_d_step:
            assert {"d/real", "d/fake"} <= set(row)
        assert ("sparsity" in row) == cls.prunes
        assert ("d_sparsity" in row) == cls.prunes_d


@pytest.mark.parametrize("name", sorted(TABLE1))
def test_declared_initialisation_is_honoured(runs: dict, name: str) -> None:
    cls = METHODS.get(name)
    seen, (g_orig, d_orig) = runs[name]["setup"], runs["_gan"]
    assert same(seen["g_orig"], weights(g_orig))  # the teacher is G_O
    if cls.g_init == "orig":
        assert same(seen["g"], weights(g_orig)), name
    else:
        assert not same(seen["g"], weights(g_orig)), name
    if cls.d_init == "none":
        assert seen["d"] is None and runs[name]["res"].discriminator is None
    elif cls.d_init == "orig":
        assert same(seen["d"], weights(d_orig)), name
    else:
        assert not same(seen["d"], weights(d_orig)), name


@pytest.mark.parametrize("name", sorted(TABLE1))
def test_inputs_are_never_modified(runs: dict, name: str) -> None:
    g_orig, d_orig = runs["_gan"]
    assert same(weights(g_orig), runs["_before"]["g"]) and same(weights(d_orig), runs["_before"]["d"])
    assert not any(k.endswith("_mask") for k in d_orig.state_dict())


@pytest.mark.parametrize("name", sorted(n for n in TABLE1 if not METHODS.get(n).train_d))
def test_frozen_discriminator_is_unchanged(runs: dict, name: str) -> None:
    res = runs[name]["res"]
    assert same(weights(res.discriminator), runs["_before"]["d"])  # weights AND BN running statistics
    # it judged in the train mode it was trained in (docs/decisions.md "Normalisation mode"), not with running stats
    assert res.discriminator.training


@pytest.mark.parametrize(
    "name", sorted(n for n in TABLE1 if METHODS.get(n).train_d and METHODS.get(n).d_init != "none")
)
def test_trained_discriminator_moves(runs: dict, name: str) -> None:
    seen, res = runs[name]["setup"], runs[name]["res"]
    assert not same(weights(res.discriminator), seen["d"])


@pytest.mark.parametrize("name", sorted(n for n in TABLE1 if METHODS.get(n).prunes_d))
def test_pruned_discriminator_ends_at_target_sparsity(runs: dict, name: str) -> None:
    res = runs[name]["res"]
    assert res.d_masks is not None
    assert res.d_masks.overall_sparsity() == pytest.approx(SPARSITY, abs=1e-3)
    assert res.summary()["d_sparsity"] == pytest.approx(SPARSITY, abs=1e-3)
    assert res.train.history[-1]["d_sparsity"] == pytest.approx(SPARSITY, abs=1e-3)
    for _, mod in res.d_masks.items():
        assert torch.count_nonzero(mod.weight[mod.weight_mask == 0]) == 0  # D's grads masked, masks re-applied
    rebuilt = MaskSet.from_model(res.discriminator)  # masks travel in D's state_dict (checkpoints, save)
    assert rebuilt.overall_sparsity() == pytest.approx(SPARSITY, abs=1e-3)


@pytest.mark.parametrize("name", sorted(n for n in TABLE1 if METHODS.get(n).prunes))
def test_pruned_generator_ends_at_target_sparsity(runs: dict, name: str) -> None:
    res = runs[name]["res"]
    assert res.masks.overall_sparsity() == pytest.approx(SPARSITY, abs=1e-3)
    for _, mod in res.masks.items():
        assert torch.count_nonzero(mod.weight[mod.weight_mask == 0]) == 0


def test_forced_schedules(runs: dict) -> None:
    for name in TABLE1:
        cls, res = METHODS.get(name), runs[name]["res"]
        if cls.prunes and cls.schedule is not None:
            assert res.config["prune"]["schedule"] == cls.schedule, name
    assert [r["sparsity"] for r in runs["oneshot_distill"]["res"].train.history] == [SPARSITY] * STEPS
    assert runs["gan_kd"]["res"].train.history[0]["sparsity"] == pytest.approx(0.05, abs=1e-3)  # AGP from s_i
    # row n: AGP on D too — D starts at s_i like G
    assert runs["prune_g_and_d"]["res"].train.history[0]["d_sparsity"] == pytest.approx(0.05, abs=0.02)


# -------------------------------------------------------------------------------------------- row c width search


@pytest.mark.parametrize("sparsity", [0.5, 0.75])
def test_small_dense_width_matches_nonzeros(sparsity: float) -> None:
    g, _ = make_gan(model=gc.ModelCfg(), data=gc.DataCfg(name="fake"))  # default widths: ngf=32, 32 px
    dense = count_parameters(g)
    key, width, n, target = matched_width(g, PruneCfg(sparsity=sparsity))
    assert key == "ngf" and 1 <= width < 32
    assert abs(n - (1 - sparsity) * dense) <= 0.1 * (1 - sparsity) * dense, (width, n, dense)
    small = small_generator(g, PruneCfg(sparsity=sparsity))
    assert count_parameters(small) == n and small.arch_spec["kwargs"]["ngf"] == width
    z = torch.randn(2, g.arch_spec["kwargs"]["nz"])
    assert small(z).shape == g(z).shape  # same images, narrower net
    assert target == pytest.approx((1 - sparsity) * dense, rel=0.02)  # non-zeros of b ≈ (1 − s) × dense


def test_small_dense_generator_in_run(runs: dict) -> None:
    g_orig, _ = runs["_gan"]
    for name in ("small_dense_scratch", "small_dense_scratch_trained_d"):
        res = runs[name]["res"]
        assert res.masks is None
        n = count_parameters(res.generator)
        assert n == matched_width(g_orig, PruneCfg(sparsity=SPARSITY))[2] < count_parameters(g_orig)
        assert res.generator.arch_spec["kwargs"]["ngf"] < MODEL_CFG.ngf


def test_small_dense_needs_arch_spec() -> None:
    with pytest.raises(gc.UserError, match="create_model"):
        small_generator(nn.Sequential(nn.Linear(4, 4)), PruneCfg(sparsity=0.5))


# ---------------------------------------------------------------------------------------------- loss definitions


def _bound(name: str, seed: int = 0, *, comp_equals_orig: bool = False):
    g_orig, d = make_gan(seed)
    g_comp = copy.deepcopy(g_orig) if comp_equals_orig else make_gan(seed + 1)[0]
    method = create_method(MethodCfg(name=name))
    method.setup(g_comp, g_orig, d, gc.get_family("dcgan").make_loss(g_orig, d))
    return method


def test_distillation_losses(data: gc.ImageDataset) -> None:
    batch = {"real": data.images[:8]}
    for name, kind, adversarial in [
        ("oneshot_distill", "l1", False),
        ("oneshot_distill_adv", "l1", True),
        ("distill_fixed_d", "l1", True),
        ("gan_kd", "mse", True),
    ]:
        m = _bound(name)
        m.g_comp.train()  # the loop's mode; G_O runs in it too
        torch.manual_seed(5)
        out = m.generator_step(batch)
        torch.manual_seed(5)
        (z,) = m.loss.generator_input(batch)
        with torch.no_grad():
            want_o = m.g_orig(z)
        dist = output_distance(m.g_comp(z), want_o, kind)
        assert out["g/distill"].item() == pytest.approx(dist.item(), rel=1e-5), name
        want = out["g/distill"] + (out["g/gen"] if adversarial else 0.0)
        assert out["loss"].item() == pytest.approx(float(want), rel=1e-5), name
        assert ("g/gen" in out) == adversarial
        out["loss"].backward()
        assert all(p.grad is None for p in m.g_orig.parameters())


def test_frozen_d_strategy_has_no_d_optimizer_or_step(data: gc.ImageDataset) -> None:
    for name in ("distill_fixed_d", "lit"):
        m = _bound(name)
        assert "d" not in m.trainable()
        assert m.discriminator_step({"real": data.images[:8]}) is None
        assert m.d.training and not any(p.requires_grad for p in m.d.parameters())


def test_adversarial_distill_real_is_teacher_output(data: gc.ImageDataset) -> None:
    m = _bound("adversarial_distill")
    batch = {"real": data.images[:8]}
    torch.manual_seed(7)
    out = m.discriminator_step(batch)
    torch.manual_seed(7)
    (z,) = m.loss.generator_input(batch)
    with torch.no_grad():
        want_real = F.softplus(-m.d(m.g_orig(z))).mean()  # D's "real" = G_O(x) on the same x, not the data
        data_real = F.softplus(-m.d(batch["real"])).mean()
    assert out["d/real"].item() == pytest.approx(want_real.item(), rel=1e-5)
    assert out["d/real"].item() != pytest.approx(data_real.item(), rel=1e-3)


def test_lit_feature_points_and_zero_loss_for_identical_student(data: gc.ImageDataset) -> None:
    m = _bound("lit", comp_equals_orig=True)
    assert m.points == ["net.2", "net.5"]  # the ReLU after each ConvTranspose2d + BatchNorm; Tanh = output
    m.g_comp.train()  # the loop's mode: G_O runs in it too, so equal networks have equal features
    out = m.generator_step({"real": data.images[:8]})
    assert out["g/feat"].item() == 0.0 and out["g/distill"].item() == 0.0
    m2 = _bound("lit")
    out2 = m2.generator_step({"real": data.images[:8]})
    assert out2["g/feat"].item() > 0 and out2["loss"].item() == pytest.approx(
        (out2["g/feat"] + out2["g/distill"]).item(), rel=1e-5
    )
    out2["loss"].backward()
    assert all(p.grad is not None for p in m2.g_comp.parameters())  # every block gets a feature gradient


def test_feature_points_fallback_to_children() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.conv(x)

    g = nn.Module()
    g.head = nn.Conv2d(2, 2, 1)
    g.body = nn.Sequential(Block(), Block(), nn.Conv2d(2, 1, 1))
    assert feature_points(g) == ["body.0", "body.1"]  # no activations at the top level: every child but the last


# ------------------------------------------------------------------------------------------------ row m regrowth


def test_em_prune_regrows_on_constructed_case() -> None:
    """A weight pruned at one selection, pushed up by its (unmasked) gradient, is selected again at the next one."""
    g = nn.Sequential(nn.Linear(4, 4, bias=False))
    with torch.no_grad():
        g[0].weight.copy_(torch.arange(1, 17, dtype=torch.float32).view(4, 4) / 16)
    method = EmPrune(MethodCfg(name="em_prune"))
    method.setup(g, copy.deepcopy(g), None, None)
    masks = MaskSet.attach(g)
    masks.update(0.5)  # the 8 smallest go: 1/16 … 8/16
    pruned_first = (g[0].weight_mask == 0).clone()
    assert int(pruned_first.sum()) == 8 and torch.count_nonzero(g[0].weight[pruned_first]) == 0
    prune = PruneCfg(sparsity=0.5, schedule="one_shot", update_every=2)
    opt = torch.optim.SGD(g.parameters(), lr=1.0)
    push = torch.where(pruned_first, -1.0, 0.5)  # grows the pruned weights, shrinks the kept ones
    for step in range(2):  # the loop's order: backward → (no grad masking) → step → hook → re-apply masks
        opt.zero_grad()
        (g[0].weight * push).sum().backward()
        assert method.mask_g_grads is False
        opt.step()
        method.after_optimizer_step(step, masks, prune)
        masks.apply()
        if step == 0:  # between selections the pruned weights stay pruned in the forward, but W accumulates
            assert torch.count_nonzero(g[0].weight[pruned_first]) == 0
            assert torch.all(method.dense["0"][pruned_first] > 1.0)
    # the re-selection at step index 1 ((1 + 1) % 2 == 0) brought them all back with their accumulated W
    assert bool(torch.all(g[0].weight_mask[pruned_first] == 1))
    assert torch.count_nonzero(g[0].weight[pruned_first]) == 8
    assert torch.equal(g[0].weight[pruned_first], method.dense["0"][pruned_first])
    assert masks.overall_sparsity() == 0.5


def test_em_prune_regrows_in_the_training_loop(data: gc.ImageDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    selections: list[dict[str, torch.Tensor]] = []
    original = EmPrune.reselect

    def spy(self, masks, sparsity, importance="magnitude"):
        original(self, masks, sparsity, importance)
        selections.append({n: m.weight_mask.clone() for n, m in masks.items()})

    monkeypatch.setattr(EmPrune, "reselect", spy)
    g, d = make_gan()
    res = gc.compress(
        g,
        d,
        data,
        method="em_prune",
        prune=PruneCfg(sparsity=SPARSITY, update_every=1),
        train=gc.TrainCfg(steps=STEPS, batch_size=8, log_every=1, lr_g=0.05),  # big steps: magnitudes reshuffle
    )
    assert len(selections) == STEPS  # K = update_every = 1: after every step
    regrown = sum(
        int(((before[n] == 0) & (after[n] == 1)).sum())
        for before, after in itertools.pairwise(selections)
        for n in after
    )
    assert regrown > 0
    assert res.masks.overall_sparsity() == pytest.approx(SPARSITY, abs=1e-3)
    for _, mod in res.masks.items():  # the shipped weights are W ⊙ M
        assert torch.count_nonzero(mod.weight[mod.weight_mask == 0]) == 0


# ------------------------------------------------------------------------------------- pruned D through the loop


@pytest.mark.parametrize(
    ("method", "update_every", "steps", "ckpt"),
    [
        ("prune_g_and_d", 1, 4, 2),  # row n: D's masks are buffers in D's state_dict, so checkpoints carry them
        # row m: the dense shadow weights W (where pruned weights regrow from) are checkpointed (extra_state); the
        # run is resumed between two re-selections
        ("em_prune", 3, 7, 4),
    ],
)
def test_pruned_g_and_d_resume_exactly(
    data: gc.ImageDataset, tmp_path, method: str, update_every: int, steps: int, ckpt: int
) -> None:
    from gancompress.rundir import RunDir

    g, d = make_gan()
    kwargs = {
        "method": method,
        "prune": PruneCfg(sparsity=SPARSITY, update_every=update_every),
        "train": gc.TrainCfg(steps=steps, batch_size=8, log_every=1, ckpt_every=ckpt),
    }
    full = gc.compress(g, d, data, run=RunDir(tmp_path / "full"), **kwargs)
    resume_from = tmp_path / "full" / "checkpoints" / f"step_{ckpt}"
    resumed = gc.compress(g, d, data, run=RunDir(tmp_path / "res"), resume_from=resume_from, **kwargs)
    assert same(weights(full.generator), weights(resumed.generator))
    assert same(weights(full.discriminator), weights(resumed.discriminator))
    for full_masks, res_masks in ((full.masks, resumed.masks), (full.d_masks, resumed.d_masks)):
        for (_, a), (_, b) in zip(full_masks.items(), res_masks.items(), strict=True):
            assert torch.equal(a.weight_mask, b.weight_mask)


def test_filter_pruned_discriminator_keeps_its_output_layer(data: gc.ImageDataset) -> None:
    g, d = make_gan()
    res = gc.compress(
        g,
        d,
        data,
        method="prune_g_and_d",
        prune=PruneCfg(granularity="filter", sparsity=SPARSITY, schedule="one_shot"),
        train=gc.TrainCfg(steps=2, batch_size=8, log_every=1),
    )
    names = res.d_masks.names
    assert "net.8" not in names and names  # the score layer (1 output channel) stays dense
    for _, mod in res.d_masks.items():
        keep = mod.weight_mask.flatten(1).any(1)
        assert 0 < int(keep.sum()) < keep.numel()  # whole filters pruned
    assert all(math.isfinite(v) for row in res.train.history for v in row.values())


# ------------------------------------------------------------------ an option the method does not read is warned
def test_an_option_the_method_ignores_is_warned_about(caplog) -> None:
    import logging

    from gancompress.config import MethodCfg
    from gancompress.methods import create_method

    with caplog.at_level(logging.WARNING, logger="gancompress.methods.base"):
        create_method(MethodCfg(name="oneshot_finetune", lam=1.0, anchor=0.5))
    text = [r.getMessage() for r in caplog.records]
    assert any("method.lam = 1.0 has no effect: oneshot_finetune does not read it" in t for t in text), text
    assert any("method.anchor = 0.5 has no effect" in t for t in text), text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gancompress.methods.base"):
        create_method(MethodCfg(name="self_supervised", lam=1.0, anchor=0.5, reduction="sample"))
        create_method(MethodCfg(name="prune_g_and_d", lam=0.25))  # inherits row b's options
        create_method(MethodCfg(name="em_prune", distance="squared"))
        create_method(MethodCfg(name="dense"))  # defaults: nothing to say
    assert caplog.records == []
