"""The one training loop (training/loop.py) and the methods run through it (docs/method.md §1–§3, Eq. 7–9).

Tiny DCGANs (nz=16, ngf=ndf=8, 16 px) on the file-free ``fake`` dataset, a few steps each, one CPU thread: the
per-step cost is then ~10 ms, while the default thread pool on a shared machine is 10× slower for these sizes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import gancompress as gc
from gancompress.config import MethodCfg
from gancompress.errors import NonFiniteLossError
from gancompress.families.dcgan import DCGANLoss
from gancompress.methods import create_method
from gancompress.methods.self_supervised import consistency
from gancompress.pruning import num_pruned
from gancompress.rundir import RunDir, latest_checkpoint, load_checkpoint

DATA_CFG = gc.DataCfg(name="fake", image_size=16)


MODEL_CFG = gc.ModelCfg(nz=16, ngf=8, ndf=8)


SPARSITY = 0.75


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data() -> gc.ImageDataset:
    return gc.load_dataset(DATA_CFG, "train")


def make_gan(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    return gc.get_family("dcgan").build(MODEL_CFG, DATA_CFG)


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_state(module: nn.Module, snap: dict[str, torch.Tensor]) -> None:
    state = module.state_dict()
    assert list(state) == list(snap)  # e.g. no weight_mask buffers were added
    for key, value in snap.items():
        assert torch.equal(state[key], value), key


def all_finite(row: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in row.values())


# ------------------------------------------------------------------------------------------- self_supervised run


@pytest.fixture(scope="module")
def ss_run(data: gc.ImageDataset) -> dict:
    g_orig, d_orig = make_gan()
    g_orig.train()  # whatever mode the user left it in must survive
    before = {"g": snapshot(g_orig), "d": snapshot(d_orig)}
    res = gc.compress(
        g_orig,
        d_orig,
        data,
        family="dcgan",
        method="self_supervised",
        prune=gc.PruneCfg(granularity="element", sparsity=SPARSITY, update_every=1),
        train=gc.TrainCfg(steps=8, batch_size=16, log_every=1),
        seed=0,
    )
    return {"g_orig": g_orig, "d_orig": d_orig, "before": before, "res": res}


def test_g_orig_and_d_orig_are_not_modified(ss_run: dict) -> None:
    g_orig, d_orig, res = ss_run["g_orig"], ss_run["d_orig"], ss_run["res"]
    assert_same_state(g_orig, ss_run["before"]["g"])
    assert_same_state(d_orig, ss_run["before"]["d"])  # D was fine-tuned on a copy
    assert g_orig.training  # the method freezes its own copy of G_O, not the user's object
    assert all(p.requires_grad for p in g_orig.parameters())
    assert all(p.requires_grad for p in d_orig.parameters())
    assert res.generator is not g_orig and res.discriminator is not d_orig
    # …and the copies really were trained (the checks above are not vacuous)
    d_trained = res.discriminator.state_dict()
    assert any(not torch.equal(d_trained[k], v) for k, v in ss_run["before"]["d"].items())


def test_target_sparsity_reached_exactly_per_layer(ss_run: dict) -> None:
    res = ss_run["res"]
    report = res.masks.sparsity_report()
    assert [r["name"] for r in report] == ["net.0", "net.3", "net.6"]  # every ConvTranspose2d of G
    for row in report:
        assert row["numel"] - row["nonzero"] == num_pruned(SPARSITY, row["numel"]), row
        assert row["sparsity"] == SPARSITY, row
    assert res.masks.overall_sparsity() == SPARSITY
    assert res.train.history[-1]["sparsity"] == SPARSITY
    assert res.summary()["sparsity"] == SPARSITY
    assert not any(k.endswith("weight_mask") for k in res.discriminator.state_dict())  # D_O is not pruned


def test_pruned_weights_are_exactly_zero_after_training(ss_run: dict) -> None:
    res, before = ss_run["res"], ss_run["before"]["g"]
    for name, mod in res.masks.items():
        mask = mod.weight_mask
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        assert torch.count_nonzero(mod.weight[mask == 0]) == 0, name  # Adam's momentum did not revive them
        kept = mod.weight[mask == 1]
        assert torch.count_nonzero(kept) == kept.numel(), name
        assert not torch.equal(kept, before[f"{name}.weight"][mask == 1]), name  # kept weights were trained


def test_logged_terms_are_finite_and_named(ss_run: dict) -> None:
    history = ss_run["res"].train.history
    assert [row["step"] for row in history] == list(range(1, 9))
    for row in history:
        assert {"g/loss", "g/gc", "g/dc", "g/gen", "g/gen_orig", "d/loss", "d/real", "d/fake", "sparsity"} <= set(row)
        assert all_finite(row), row
    # AGP: starts at s_i = 5 %, reaches s_f by half of the steps, then stays (docs/method.md §3)
    assert history[0]["sparsity"] == pytest.approx(0.05, abs=1e-3)
    assert [row["sparsity"] for row in history[4:]] == [SPARSITY] * 4


def test_logged_loss_is_eq9(ss_run: dict) -> None:
    """L = L_GC + λ·L_DC with λ = 0.5 (Eq. 9), and L_GC = |l_O − l_C| / |l_O| for DCGAN's single term (Eq. 7)."""
    for row in ss_run["res"].train.history:
        assert row["g/loss"] == pytest.approx(row["g/gc"] + 0.5 * row["g/dc"], rel=1e-5, abs=1e-8), row
        rel = abs(row["g/gen_orig"] - row["g/gen"]) / abs(row["g/gen_orig"])
        assert row["g/gc"] == pytest.approx(rel, rel=1e-3, abs=1e-6), row


def _bound_method(cfg: MethodCfg, seed: int = 0):
    g_orig, d = make_gan(seed)
    g_comp = make_gan(seed + 1)[0]
    method = create_method(cfg)
    method.setup(g_comp, g_orig, d, gc.get_family("dcgan").make_loss(g_orig, d))
    return method


@pytest.mark.parametrize("lam", [0.5, 2.0])
@pytest.mark.parametrize("anchor", [0.0, 0.3])
def test_generator_step_total(lam: float, anchor: float, data: gc.ImageDataset) -> None:
    method = _bound_method(MethodCfg(name="self_supervised", lam=lam, anchor=anchor))
    batch = {"real": data.images[:8]}
    torch.manual_seed(3)
    out = method.generator_step(batch)
    want = out["g/gc"] + lam * out["g/dc"] + (anchor * out["g/anchor"] if anchor else 0.0)
    assert torch.allclose(out["loss"], want, rtol=1e-6, atol=1e-8)
    assert ("g/anchor" in out) == (anchor > 0)
    assert out["loss"].requires_grad
    out["loss"].backward()
    assert all(p.grad is None for p in method.g_orig.parameters())  # G_O is frozen (docs/method.md §1)
    assert any(p.grad is not None for p in method.g_comp.parameters())


def test_generator_step_uses_same_inputs_for_both_generators(data: gc.ImageDataset) -> None:
    """With g_comp == g_orig the consistency losses are exactly zero: both saw the same x (docs/method.md §2), in
    the train mode the loop trains g_comp in (tests/unit/test_frozen.py covers every family through the loop)."""
    g_orig, d = make_gan()
    g_comp = make_gan()[0]
    g_comp.train()
    method = create_method(MethodCfg(name="self_supervised"))
    method.setup(g_comp, g_orig, d, gc.get_family("dcgan").make_loss(g_orig, d))
    out = method.generator_step({"real": data.images[:8]})
    assert out["g/gc"].item() == 0.0 and out["g/dc"].item() == 0.0 and out["loss"].item() == 0.0


# ----------------------------------------------------------------------------------------- consistency (Eq. 7/8)


def _t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize(
    ("orig", "comp", "reduction", "distance", "expected"),
    [
        ((2, 2), (1, 3), "batch", "abs", 0.0),  # means equal: 2 vs 2
        ((2, 2), (1, 3), "sample", "abs", 0.5),  # (|2−1|/2 + |2−3|/2) / 2
        ((2, 2), (1, 3), "sample", "squared", 0.25),  # (0.5² + 0.5²) / 2
        ((2, 2), (1, 3), "batch", "squared", 0.0),
        ((2, 4), (1, 1), "batch", "abs", 2 / 3),  # |3 − 1| / 3
        ((2, 4), (1, 1), "batch", "squared", 4 / 9),
        ((2, 4), (1, 1), "sample", "abs", 0.625),  # (1/2 + 3/4) / 2
        ((2, 4), (1, 1), "sample", "squared", 0.40625),  # (1/4 + 9/16) / 2
        ((-2, -2), (-1, -1), "batch", "abs", 0.5),  # |l_O| in the denominator: sign of the loss does not matter
    ],
)
def test_consistency_hand_computed(orig, comp, reduction, distance, expected) -> None:
    got = consistency(
        {"gen": _t(*orig)}, {"gen": _t(*comp)}, {"gen": 1.0}, reduction=reduction, distance=distance, eps=0.0
    )
    assert got.item() == pytest.approx(expected, abs=1e-12)


def test_consistency_weights_and_sum_over_terms() -> None:
    orig = {"gen": _t(2, 2), "cls": _t(4, 4)}
    comp = {"gen": _t(1, 1), "cls": _t(5, 5)}
    # 1·|2−1|/2 + 10·|4−5|/4 = 0.5 + 2.5; a term without a weight counts with weight 1
    assert consistency(orig, comp, {"gen": 1.0, "cls": 10.0}, eps=0.0).item() == pytest.approx(3.0)
    assert consistency(orig, comp, {}, eps=0.0).item() == pytest.approx(0.75)


def test_consistency_eps_and_scalar_terms() -> None:
    got = consistency({"gen": _t(0, 0)}, {"gen": _t(1, 1)}, {}, eps=0.5)  # |0 − 1| / (0 + 0.5)
    assert got.item() == pytest.approx(2.0)
    scalar = {"gen": torch.tensor(2.0)}
    assert consistency(scalar, {"gen": torch.tensor(3.0)}, {}, eps=0.0).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="per-sample"):
        consistency(scalar, {"gen": torch.tensor(3.0)}, {}, reduction="sample")


def test_consistency_gradient_flows_to_comp_only() -> None:
    orig = _t(2, 4).requires_grad_(True)
    comp = _t(1, 1).requires_grad_(True)
    consistency({"gen": orig}, {"gen": comp}, {}, reduction="sample", eps=0.0).backward()
    assert orig.grad is None  # l_O is a target (Eq. 7), never optimised
    # d/dc mean(|o − c| / |o|) = −sign(o − c) / (|o| · B)
    assert torch.allclose(comp.grad, _t(-1 / 4, -1 / 8))


# ------------------------------------------------------------------------------------------------- other methods


def test_oneshot_finetune_forces_one_shot(data: gc.ImageDataset) -> None:
    g, d = make_gan()
    res = gc.compress(
        g,
        d,
        data,
        method="oneshot_finetune",
        prune=gc.PruneCfg(sparsity=SPARSITY, schedule="agp"),
        train=gc.TrainCfg(steps=3, batch_size=16, log_every=1),
    )
    assert res.config["prune"]["schedule"] == "one_shot"
    assert [row["sparsity"] for row in res.train.history] == [SPARSITY] * 3  # final already at the first log
    for row in res.train.history:
        assert {"g/loss", "g/gen", "d/real", "d/fake"} <= set(row) and "g/gc" not in row  # plain GAN loss (row d)
        assert all_finite(row)
    for _, mod in res.masks.items():
        assert torch.count_nonzero(mod.weight[mod.weight_mask == 0]) == 0


def test_dense_trains_teacher(data: gc.ImageDataset, tmp_path: Path) -> None:
    cfg = gc.RunCfg(data=DATA_CFG, model=MODEL_CFG, train=gc.TrainCfg(steps=3, batch_size=16, log_every=1), seed=0)
    g, d, result = gc.train_teacher(cfg, data, run=RunDir(tmp_path / "teacher"))
    assert result.steps == 3 and len(result.history) == 3
    for row in result.history:
        assert {"g/loss", "g/gen", "d/loss", "d/real", "d/fake"} <= set(row)
        assert "sparsity" not in row
        assert all_finite(row)
        assert row["g/loss"] == pytest.approx(row["g/gen"], rel=1e-6)
        assert row["d/loss"] == pytest.approx(row["d/real"] + row["d/fake"], rel=1e-5)
    g0, d0 = make_gan(cfg.seed)  # the same seeded init: training moved the weights
    assert not torch.equal(g.net[0].weight, g0.net[0].weight)
    assert not torch.equal(d.net[0].weight, d0.net[0].weight)
    assert not any(k.endswith("weight_mask") for k in g.state_dict())
    # the run directory holds a reloadable GAN and the logged scalars
    g2, d2 = gc.load_gan(tmp_path / "teacher")
    assert torch.equal(g2.net[0].weight, g.net[0].weight) and torch.equal(d2.net[0].weight, d.net[0].weight)
    rows = [json.loads(line) for line in (tmp_path / "teacher" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]


# ----------------------------------------------------------------------------------------------------- NaN guard


class NanLoss(DCGANLoss):
    """DCGAN's loss, but a chosen term becomes NaN at 0-indexed step ``nan_step``.

    The step is counted in D's full ``discriminator_terms`` call, which every method with a D makes once per step
    before its G step (``fake_terms`` is DCGAN's shared-forward override and does not call it).
    """

    def __init__(self, nz: int, nan_step: int, where: str) -> None:
        super().__init__(nz)
        self.nan_step, self.where, self.step = nan_step, where, -1

    def _poison(self, terms: dict[str, torch.Tensor], key: str) -> dict[str, torch.Tensor]:
        if self.step == self.nan_step:
            terms[key] = terms[key] * float("nan")
        return terms

    def discriminator_terms(self, g_out, batch, d, *, fake_only=False):
        terms = super().discriminator_terms(g_out, batch, d, fake_only=fake_only)
        if fake_only:
            return terms
        self.step += 1
        return self._poison(terms, "real") if self.where == "d" else terms

    def generator_terms(self, g_out, batch, d):
        terms = super().generator_terms(g_out, batch, d)
        return self._poison(terms, "gen") if self.where == "g" else terms

    def fake_terms(self, g_out, batch, d):
        g_terms, d_terms = super().fake_terms(g_out, batch, d)
        return (self._poison(g_terms, "gen") if self.where == "g" else g_terms), d_terms


@pytest.mark.parametrize(
    ("method", "where", "term"),
    [("self_supervised", "d", "d/real"), ("self_supervised", "g", "g/gc"), ("oneshot_finetune", "g", "g/gen")],
)
def test_nan_stops_with_step_and_term_and_keeps_last_good_checkpoint(
    data: gc.ImageDataset, tmp_path: Path, method: str, where: str, term: str
) -> None:
    g, d = make_gan()
    run = RunDir(tmp_path / "run")
    with pytest.raises(NonFiniteLossError) as info:
        gc.compress(
            g,
            d,
            data,
            loss=NanLoss(MODEL_CFG.nz, nan_step=5, where=where),
            method=method,
            prune=gc.PruneCfg(sparsity=0.5),
            train=gc.TrainCfg(steps=10, batch_size=16, log_every=1, ckpt_every=2),
            run=run,
        )
    err = info.value
    assert (err.step, err.term) == (5, term)
    assert "step 5" in str(err) and repr(term) in str(err)
    assert math.isnan(err.value)
    # the last checkpoint is the one written after step index 3 (4 steps done), before the NaN
    ckdir = run.path / "checkpoints"
    assert sorted(p.name for p in ckdir.iterdir()) == ["step_2", "step_4"]
    last = latest_checkpoint(run.path)
    assert last == ckdir / "step_4"
    tensors, meta = load_checkpoint(last)
    assert meta["step"] == 4
    for key, value in tensors.items():
        if value.is_floating_point():
            assert torch.isfinite(value).all(), key
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in rows) == 5 and all(all_finite(r) for r in rows)


# -------------------------------------------------------------------------------------------------------- resume


def test_resume_matches_uninterrupted_run(data: gc.ImageDataset, tmp_path: Path) -> None:
    g, d = make_gan()
    kwargs = {
        "method": "self_supervised",
        "prune": gc.PruneCfg(sparsity=0.5, update_every=2),
        "train": gc.TrainCfg(steps=10, batch_size=16, log_every=1, ckpt_every=5),
        "seed": 0,
    }
    full = gc.compress(g, d, data, run=RunDir(tmp_path / "full"), **kwargs)
    assert sorted(p.name for p in (tmp_path / "full" / "checkpoints").iterdir()) == ["step_10", "step_5"]

    resumed = gc.compress(
        g, d, data, run=RunDir(tmp_path / "resumed"), resume_from=tmp_path / "full" / "checkpoints" / "step_5", **kwargs
    )
    assert resumed.train.steps == 10
    assert [row["step"] for row in resumed.train.history] == list(range(6, 11))
    assert resumed.masks.overall_sparsity() == full.masks.overall_sparsity() == 0.5

    diffs = {}
    for prefix, a, b in (("g", full.generator, resumed.generator), ("d", full.discriminator, resumed.discriminator)):
        sa, sb = a.state_dict(), b.state_dict()
        assert list(sa) == list(sb)
        for key in sa:
            if not torch.equal(sa[key], sb[key]):
                diffs[f"{prefix}.{key}"] = (sa[key].double() - sb[key].double()).abs().max().item()
    assert not diffs, f"resumed run differs from the uninterrupted one (max abs diff per tensor): {diffs}"
    # the final checkpoints (weights, masks, optimizer moments, RNG) agree too
    ta, ma = load_checkpoint(tmp_path / "full" / "checkpoints" / "step_10")
    tb, mb = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "step_10")
    assert ta.keys() == tb.keys()
    assert [k for k in ta if not torch.equal(ta[k], tb[k])] == []
    assert ma["loader"] == mb["loader"] and ma["step"] == mb["step"] == 10
    # the history after the resume point is identical to the uninterrupted run's
    assert resumed.train.history == full.train.history[5:]


def test_frozen_discriminator_parameters_stay_frozen() -> None:
    """A parameter the user froze in D must stay frozen (the loop only toggles what it froze itself)."""
    cfg = gc.RunCfg(data=gc.DataCfg(name="fake"), model=gc.ModelCfg(nz=16, ngf=8, ndf=8))
    data = gc.load_dataset(cfg.data, "train")
    g, d = gc.get_family("dcgan").build(cfg.model, cfg.data)
    d.net[0].weight.requires_grad_(False)
    res = gc.compress(g, d, data, method="self_supervised", train=gc.TrainCfg(steps=3, batch_size=16))
    assert res.discriminator.net[0].weight.requires_grad is False
    assert all(p.requires_grad for n, p in res.discriminator.named_parameters() if n != "net.0.weight")


def test_save_overwrite_clears_directory(tmp_path) -> None:
    cfg = gc.RunCfg(data=gc.DataCfg(name="fake"), model=gc.ModelCfg(nz=16, ngf=8, ndf=8))
    g, _ = gc.get_family("dcgan").build(cfg.model, cfg.data)
    res = gc.prune_oneshot(g, gc.PruneCfg(sparsity=0.5))
    gc.save(res, tmp_path / "out")  # an earlier run in the same place
    (tmp_path / "out" / "stale.txt").write_text("old run")
    gc.save(res, tmp_path / "out", overwrite=True)
    assert not (tmp_path / "out" / "stale.txt").exists() and (tmp_path / "out" / "generator.safetensors").is_file()
    # a folder that is not a gancompress output is never deleted by overwrite (hostile-input probe, F1)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("keep")
    with pytest.raises(gc.UserError, match="not a gancompress run"):
        gc.save(res, tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "keep"
