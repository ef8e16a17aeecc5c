"""methods/recovery/adapters.py and ``method.feature_distill``: G_O's intermediate features distilled into G_C through
learnable 1×1 adapters, trained by G's optimizer, never exported (docs/pruning.md "Recovery after pruning")."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

import gancompress as gc
from gancompress.config import MethodCfg
from gancompress.data import InfiniteLoader
from gancompress.files import load_tensors
from gancompress.methods import create_method
from gancompress.methods.recovery import FeatureAdapters, capture_outputs, distill_points
from gancompress.rundir import RunDir, load_checkpoint
from gancompress.training.loop import train
from tests.methods.recovery.families import FAMILIES, family_setup

pytestmark = pytest.mark.usefixtures("one_thread")

DATA_CFG = gc.DataCfg(name="fake", image_size=16)
MODEL_CFG = gc.ModelCfg(nz=16, ngf=8, ndf=8)


def _gan(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    return gc.get_family("dcgan").build(MODEL_CFG, DATA_CFG)


def _bound(cfg: MethodCfg, g_comp: nn.Module, g_orig: nn.Module, d: nn.Module):
    method = create_method(cfg)
    method.setup(g_comp, g_orig, d, gc.get_family("dcgan").make_loss(g_orig, d))
    return method


def test_distill_points_are_the_convs_but_the_output_layer() -> None:
    g, _ = _gan()
    convs = [n for n, m in g.named_modules() if isinstance(m, nn.ConvTranspose2d)]
    assert distill_points(g) == convs[:-1] == ["net.0", "net.3"]
    assert distill_points(g, (torch.randn(2, 16),)) == convs[:-1]  # the layer that runs last is the output layer


def test_capture_outputs_keeps_the_first_call() -> None:
    conv = nn.Conv2d(1, 2, 1)
    net = nn.Sequential(conv)
    x1, x2 = torch.randn(1, 1, 3, 3), torch.randn(1, 1, 3, 3)
    with capture_outputs(net, ["0"]) as feats:
        first = net(x1)
        net(x2)
    assert torch.equal(feats["0"], first)
    assert not conv._forward_hooks  # hooks removed after the block


def test_identity_adapters_and_zero_loss_at_g_c_equal_g_o() -> None:
    g, d = _gan()
    method = _bound(MethodCfg(feature_distill=1.0), copy.deepcopy(g), g, d)
    adapters = method.adapters
    assert adapters.points == ["net.0", "net.3"]
    for conv in adapters.adapters:
        assert torch.equal(conv.weight[:, :, 0, 0], torch.eye(conv.out_channels)) and not conv.bias.any()
    out = method.generator_step({"real": torch.zeros(8, 1, 16, 16)})
    assert out["g/feat_distill"].item() == 0.0 and out["loss"].item() == 0.0


def test_adapters_get_gradients_and_are_trained_by_gs_optimizer() -> None:
    g, d = _gan()
    g_comp = _gan(seed=1)[0]  # a different student: non-zero feature loss
    method = _bound(MethodCfg(feature_distill=1.0), g_comp, g, d)
    params = method.extra_g_params()
    assert len(params) == 4 and all(any(p is q for q in method.trainable()["g"]) for p in params)
    out = method.generator_step({"real": torch.zeros(8, 1, 16, 16)})
    assert out["g/feat_distill"].item() > 0
    out["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    assert all(p.grad is None for p in g.parameters())  # G_O frozen
    before = [p.detach().clone() for p in params]
    data = gc.load_dataset(DATA_CFG, "train")
    train(method, InfiniteLoader(data, 8, seed=0), steps=2, cfg=gc.TrainCfg(steps=2, batch_size=8, log_every=1))
    assert all(not torch.equal(b, p) for b, p in zip(before, params, strict=True))  # the loop's Adam moved them


def test_adapters_are_checkpointed_and_never_exported(tmp_path: Path) -> None:
    g, d = _gan()
    data = gc.load_dataset(DATA_CFG, "train")
    run = RunDir(tmp_path / "run")
    res = gc.compress(
        g, d, data, family="dcgan", method=MethodCfg(feature_distill=1.0), run=run,
        prune=gc.PruneCfg(sparsity=0.5, update_every=1), train=gc.TrainCfg(steps=3, batch_size=8, ckpt_every=3),
    )  # fmt: skip
    assert res.train.history[-1]["g/feat_distill"] > 0
    tensors, _ = load_checkpoint(run.path / "checkpoints" / "step_3")
    assert sorted(k for k in tensors if k.startswith("method.")) == [
        f"method.adapters.adapters.{i}.{p}" for i in (0, 1) for p in ("bias", "weight")
    ]
    saved = gc.save(res, tmp_path / "out", family="dcgan")
    assert not any("adapter" in k for k in load_tensors(saved / "generator.safetensors"))
    loaded, _ = gc.load_gan(saved)
    assert set(loaded.state_dict()) == set(res.generator.state_dict())
    assert {k for k in loaded.state_dict() if not k.endswith("_mask")} == set(g.state_dict())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_recovery_terms_are_zero_at_identity_for_every_family(family: str) -> None:
    """compress() with nothing pruned, 1 step: G_C = G_O in the loop's mode, so both recovery terms are exactly 0 —
    and the G step's backward runs through every family's D (StarGAN's two heads, SRGAN's, CycleGAN's pair)."""
    cfg, data, g, d, loss = family_setup(family)
    res = gc.compress(
        g, d, data, family=cfg.model.family, loss=loss, method=MethodCfg(feature_distill=1.0, d_feature=1.0),
        prune=gc.PruneCfg(sparsity=0.0, schedule="one_shot"), train=gc.TrainCfg(steps=1, batch_size=4, log_every=1),
    )  # fmt: skip
    row = res.train.history[0]
    assert row["g/feat_distill"] == 0.0 and row["g/d_feature"] == 0.0, row
    assert row["g/gc"] == 0.0 and row["g/dc"] == 0.0


def test_a_narrower_student_gets_default_initialised_adapters() -> None:
    adapters = FeatureAdapters(["a", "b"], [(4, 4), (2, 4)])
    assert torch.equal(adapters.adapters[0].weight[:, :, 0, 0], torch.eye(4))
    assert adapters.adapters[1].weight.shape == (4, 2, 1, 1)
    f_c, f_o = torch.randn(2, 2, 3, 3), torch.randn(2, 4, 3, 3)
    assert adapters.loss({"b": f_c}, {"b": f_o}).item() > 0  # layers seen on one side only are left out
