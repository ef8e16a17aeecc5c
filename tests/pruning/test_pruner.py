"""gancompress.pruning.pruner: a ``Pruner`` built from a ``PruneCfg`` sets exactly the masks the schedule and the
``MaskSet`` give by hand; fixed masks (no cfg) never change; the loop refuses a schedule that does not span its run."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import gancompress as gc
from gancompress.config import PruneCfg
from gancompress.pruning import MaskSet, Pruner, should_update, sparsity_at


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3))


def _masks(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k.endswith("_mask")}


@pytest.mark.parametrize("cfg", [PruneCfg(sparsity=0.75), PruneCfg(granularity="filter", sparsity=0.5, scope="global")])
def test_step_sets_the_masks_the_schedule_and_maskset_give_by_hand(cfg: PruneCfg) -> None:
    a, b, steps = _net(), _net(), 40
    pruner = Pruner.attach(a, cfg, total_steps=steps)
    masks = MaskSet.attach(b, exclude=cfg.exclude, granularity=cfg.granularity)
    masks.configure(scope=cfg.scope, layer_sparsity=cfg.layer_sparsity, final_sparsity=cfg.sparsity)
    for i in range(steps):
        target = pruner.step(i)
        if should_update(cfg, i, steps):
            assert target == sparsity_at(cfg, i, steps)
            masks.update(target, importance=cfg.importance)
        else:
            assert target is None
        assert all(torch.equal(m, _masks(b)[k]) for k, m in _masks(a).items())
    assert pruner.masks.overall_sparsity() == pytest.approx(masks.overall_sparsity())


def test_prune_is_one_shot_to_the_final_sparsity_like_prune_oneshot() -> None:
    g = _net()
    cfg = PruneCfg(sparsity=0.5)
    copied = copy.deepcopy(g)
    assert Pruner.attach(copied, cfg).prune() == pytest.approx(0.5, abs=0.01)
    res = gc.prune_oneshot(g, cfg)
    assert all(torch.equal(m, _masks(res.generator)[k]) for k, m in _masks(copied).items())


def test_fixed_masks_never_change_and_cannot_prune() -> None:
    g = _net()
    masks = MaskSet.attach(g)
    masks.update(0.5)
    before = _masks(g)
    pruner = Pruner(masks)
    assert [pruner.step(i) for i in range(20)] == [None] * 20
    assert all(torch.equal(m, before[k]) for k, m in _masks(g).items())
    with pytest.raises(ValueError, match="no sparsity"):
        pruner.prune()


def test_the_loop_refuses_a_schedule_that_does_not_span_its_run() -> None:
    from gancompress.data import InfiniteLoader
    from gancompress.methods import create_method
    from gancompress.training.loop import train

    data_cfg = gc.DataCfg(name="fake", image_size=16, limit=64)
    family = gc.get_family("dcgan")
    g, d = family.build(gc.ModelCfg(nz=16, ngf=8, ndf=8), data_cfg)
    method = create_method(gc.MethodCfg(name="dense"))
    method.setup(g, None, d, family.make_loss(g, d))
    data = gc.load_dataset(data_cfg, "train")
    pruner = Pruner.attach(g, PruneCfg(sparsity=0.5), total_steps=100)
    with pytest.raises(ValueError, match="span the run"):
        train(method, InfiniteLoader(data, 8, seed=0), steps=3, cfg=gc.TrainCfg(steps=3), pruner=pruner)
