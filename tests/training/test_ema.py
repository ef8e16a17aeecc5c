"""training/ema.py and ``train.ema``: a masked moving average of G that the run returns, saves and resumes
(docs/decisions.md "Recovery ingredients")."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import gancompress as gc
from gancompress.config import MethodCfg
from gancompress.pruning import MaskSet
from gancompress.rundir import RunDir, load_checkpoint
from gancompress.training.ema import ParameterEma

pytestmark = pytest.mark.usefixtures("one_thread")

DATA_CFG = gc.DataCfg(name="fake", image_size=16)
MODEL_CFG = gc.ModelCfg(nz=16, ngf=8, ndf=8)


def test_average_follows_the_warm_up_formula() -> None:
    layer = nn.Linear(3, 2)
    ema = ParameterEma(layer, decay=0.9)
    expected = {k: v.detach().clone() for k, v in layer.named_parameters()}
    for n in range(1, 91):
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(torch.randn_like(p))
        ema.update(layer)
        rate = min(0.9, (1 + n) / (10 + n))
        for k, p in layer.named_parameters():
            expected[k] = rate * expected[k] + (1 - rate) * p.detach()
    assert ema.num_updates == 90 and ema.rate(90) == 0.9 and ema.rate(9) == 10 / 19  # warm-up, then the decay
    for k, v in ema.state_tensors().items():
        torch.testing.assert_close(v, expected[k])
    ema.copy_to(layer)
    assert all(torch.equal(p, ema.shadow[k]) for k, p in layer.named_parameters())


def test_pruned_weights_are_exactly_zero_in_the_average() -> None:
    """Filter masks that grow over time: the average of a weight pruned at step 3 is 0, not 0.9^k of its old value;
    coupled biases and BatchNorm channels too."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 1, 3))
    masks = MaskSet.attach(net, exclude=["3"], granularity="filter", example_inputs=(torch.randn(2, 2, 8, 8),))
    ema = ParameterEma(net, decay=0.99)
    for step, sparsity in enumerate([0.0, 0.0, 0.0, 0.25, 0.25, 0.5, 0.5, 0.5]):
        if sparsity:
            masks.update(sparsity)
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.1 * torch.randn_like(p))
        masks.apply()
        ema.update(net, masks)
        pruned = net[0].weight_mask.flatten(1).sum(1) == 0
        assert int(pruned.sum()) == int(8 * sparsity), step
        for name in ("0.weight", "0.bias", "1.weight", "1.bias"):
            assert torch.count_nonzero(ema.shadow[name][pruned]) == 0, (step, name)
            assert torch.count_nonzero(ema.shadow[name][~pruned]) == ema.shadow[name][~pruned].numel(), (step, name)
    live = dict(net.named_parameters())
    assert all(not torch.equal(ema.shadow[k], live[k]) for k in ema.shadow)  # live weights were not touched


def _compress(
    run: RunDir | None = None, resume_from: Path | None = None, *, ema: float, schedule: str = "agp", **method
):
    torch.manual_seed(0)
    g, d = gc.get_family("dcgan").build(MODEL_CFG, DATA_CFG)
    return gc.compress(
        g, d, gc.load_dataset(DATA_CFG, "train"), family="dcgan", method=MethodCfg(**method), run=run,
        prune=gc.PruneCfg(sparsity=0.5, update_every=1, schedule=schedule), resume_from=resume_from, seed=0,
        train=gc.TrainCfg(steps=6, batch_size=8, log_every=1, ckpt_every=3, sample_every=0, ema=ema),
    )  # fmt: skip


def test_the_run_returns_and_saves_the_masked_average(tmp_path: Path) -> None:
    res = _compress(RunDir(tmp_path / "run"), ema=0.8)
    tensors, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "step_6")
    assert meta["ema"]["num_updates"] == 6
    params = dict(res.generator.named_parameters())
    assert set(params) == {k[len("ema.") :] for k in tensors if k.startswith("ema.")}
    for name, p in params.items():
        assert torch.equal(p.detach(), tensors[f"ema.{name}"]), name  # the generator is the average…
    assert any(not torch.equal(tensors[f"g.{n}"], tensors[f"ema.{n}"]) for n in params)  # …not the trained weights
    for name, mod in res.masks.items():
        assert torch.count_nonzero(mod.weight[mod.weight_mask == 0]) == 0, name
    loaded, _ = gc.load_gan(gc.save(res, tmp_path / "out", family="dcgan"))
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in res.generator.state_dict().items())


@pytest.mark.parametrize("schedule", ["agp", "one_shot"])
def test_resume_with_every_recovery_option_matches_the_uninterrupted_run(tmp_path: Path, schedule: str) -> None:
    options = {"ema": 0.8, "bn_reestimate": 2, "feature_distill": 1.0, "d_feature": 0.5, "schedule": schedule}
    full = _compress(RunDir(tmp_path / "full"), **options)
    resumed = _compress(RunDir(tmp_path / "resumed"), tmp_path / "full" / "checkpoints" / "step_3", **options)
    assert [row["step"] for row in resumed.train.history] == [4, 5, 6]
    assert resumed.train.history == full.train.history[3:]
    a, b = full.generator.state_dict(), resumed.generator.state_dict()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    ta, ma = load_checkpoint(tmp_path / "full" / "checkpoints" / "step_6")
    tb, mb = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "step_6")
    assert ta.keys() == tb.keys() and any(k.startswith("ema.") for k in ta) and any(k.startswith("method.") for k in ta)
    assert [k for k in ta if not torch.equal(ta[k], tb[k])] == []  # weights, EMA, adapters, optimizer moments
    assert ma["ema"] == mb["ema"]
    for name, mod in full.masks.items():  # the average respects the masks of either schedule
        assert torch.count_nonzero(mod.weight[mod.weight_mask == 0]) == 0, name
    assert full.masks.overall_sparsity() == 0.5


def test_resuming_a_checkpoint_without_an_average_starts_it_there(tmp_path: Path) -> None:
    _compress(RunDir(tmp_path / "plain"), ema=0.0)
    res = _compress(RunDir(tmp_path / "ema"), tmp_path / "plain" / "checkpoints" / "step_3", ema=0.8)
    tensors, meta = load_checkpoint(tmp_path / "ema" / "checkpoints" / "step_6")
    assert meta["ema"]["num_updates"] == 3  # steps 4-6 only
    assert all(torch.equal(p.detach(), tensors[f"ema.{n}"]) for n, p in res.generator.named_parameters())
