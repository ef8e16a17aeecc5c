"""methods/frozen.py and the normalisation mode of Eq. 7–8 (docs/decisions.md "Normalisation mode").

The claim under test: in the mode the training loop actually uses, G_C = G_O gives L_GC = L_DC = 0 for every
built-in family (BatchNorm in DCGAN / pix2pix / SRGAN, dropout in pix2pix, InstanceNorm in CycleGAN / StarGAN), a
frozen D keeps its train-mode judgement without any buffer changing, and diagnostics leave no trace.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import gancompress as gc
from gancompress.config import MethodCfg
from gancompress.data import InfiniteLoader
from gancompress.methods import create_method
from gancompress.methods.frozen import frozen_buffers, replayed_randomness, side_effect_free
from tests.methods.recovery.families import FAMILIES, family_setup

# every built-in family on its file-free stand-in data, tiny widths (shared with the recovery tests)


def _setup(family: str):
    """(cfg, train data, G_O, D_O, loss) selected as compress sees it, with running statistics as a trained pair has
    them, not the 0 / 1 defaults."""
    cfg, data, g, d, loss = family_setup(family)
    for m in [*g.modules(), *d.modules()]:
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.2, 2.0)
    return cfg, data, g, d, loss


def _has_dropout(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Dropout) and m.p > 0 for m in module.modules())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_consistency_is_zero_at_identity_in_the_loops_mode(family: str) -> None:
    """compress() with nothing pruned, 1 step: the G step of step 0 sees G_C = G_O, so Eq. 7 and 8 are exactly 0."""
    cfg, data, g, d, loss = _setup(family)
    res = gc.compress(
        g, d, data, family=cfg.model.family, loss=loss, method="self_supervised",
        prune=gc.PruneCfg(sparsity=0.0, schedule="one_shot"), train=gc.TrainCfg(steps=1, batch_size=4, log_every=1),
    )  # fmt: skip
    row = res.train.history[0]
    assert row["g/gc"] == 0.0 and row["g/dc"] == 0.0, row
    for k in loss.g_weights:
        assert row[f"g/{k}"] == row[f"g/{k}_orig"], k  # l_C[k] = l_O[k] term by term


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_old_eval_mode_teacher_would_not_be_zero(family: str) -> None:
    """The test above can fail: G_O in eval mode (running statistics, no dropout) against G_C in train mode gives
    L_GC > 0 for every family with BatchNorm or dropout — the defect docs/decisions.md records."""
    _cfg, data, g, d, loss = _setup(family)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in g.modules())
    if not (has_bn or _has_dropout(g)):
        pytest.skip(f"{family}: no BatchNorm or dropout, eval and train mode coincide")
    g_comp, teacher = copy.deepcopy(g), copy.deepcopy(g)
    loss.generator = g_comp
    method = create_method(MethodCfg(name="self_supervised"))
    method.setup(g_comp, teacher, d, loss)
    g_comp.train()
    batch = InfiniteLoader(data, 4, seed=0).next_batch()
    torch.manual_seed(1)
    assert method.generator_step(dict(batch))["g/gc"].item() == 0.0
    teacher.eval()  # the previous behaviour
    torch.manual_seed(1)
    assert method.generator_step(dict(batch))["g/gc"].item() > 1e-4


def test_dropout_masks_are_shared_by_both_sides() -> None:
    """pix2pix's U-Net has dropout: equal outputs on both sides need the same random draws (replayed_randomness)."""
    _, data, g, _d, loss = _setup("pix2pix")
    assert _has_dropout(g)
    g_comp, teacher = copy.deepcopy(g), copy.deepcopy(g)
    loss.generator = g_comp
    method = create_method(MethodCfg(name="oneshot_distill"))
    method.setup(g_comp, teacher, None, loss)
    g_comp.train()
    out = method.generator_step(InfiniteLoader(data, 4, seed=0).next_batch())
    assert out["g/distill"].item() == 0.0
    x = torch.randn(4, 1, 16, 16)
    assert not torch.equal(g_comp(x), g_comp(x))  # dropout is really active: two draws differ


def test_teacher_side_leaves_the_teacher_and_d_unchanged() -> None:
    _, data, g, d, loss = _setup("dcgan")
    g_comp, teacher = copy.deepcopy(g), copy.deepcopy(g)
    method = create_method(MethodCfg(name="self_supervised"))
    method.setup(g_comp, teacher, d, loss)
    before_t = {k: v.clone() for k, v in teacher.state_dict().items()}
    before_d = {k: v.clone() for k, v in d.state_dict().items()}
    with method.teacher_side():
        method.loss.fake_terms(teacher(torch.randn(4, 8)), {"real": data.images[:4]}, d)
    assert all(torch.equal(before_t[k], v) for k, v in teacher.state_dict().items())
    assert all(torch.equal(before_d[k], v) for k, v in d.state_dict().items())
    assert teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_frozen_buffers_restores_batchnorm_and_spectral_norm() -> None:
    net = nn.Sequential(nn.utils.spectral_norm(nn.Linear(3, 3)), nn.BatchNorm1d(3)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with frozen_buffers(net):
        net(torch.randn(8, 3) * 3 + 2)
        assert not torch.equal(net[1].running_mean, before["1.running_mean"])  # it did change inside
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_replayed_randomness_draws_the_same_numbers_again() -> None:
    torch.manual_seed(0)
    with replayed_randomness():
        a = torch.rand(5)
    b = torch.rand(5)
    assert torch.equal(a, b)


def test_side_effect_free_leaves_rng_and_statistics() -> None:
    bn = nn.BatchNorm1d(2).train()
    torch.manual_seed(3)
    with side_effect_free(bn):
        bn(torch.randn(16, 2) + 4)
    after = torch.rand(3)
    torch.manual_seed(3)
    assert torch.equal(after, torch.rand(3))
    assert bn.running_mean.abs().max() == 0 and int(bn.num_batches_tracked) == 0


def test_diagnostics_and_hooks_do_not_change_training() -> None:
    """A run with D-health diagnostics and sample / eval hooks every step trains bit-identically to one without."""
    _, data, g, d, _ = _setup("dcgan")

    def run(with_diagnostics: bool) -> dict[str, torch.Tensor]:
        calls: list[int] = []

        def hook(step: int) -> dict[str, float]:
            torch.rand(100)  # a hook drawing random numbers must not shift the training stream
            calls.append(step)
            return {}

        res = gc.compress(
            g, d, data, family="dcgan", method="self_supervised", prune=gc.PruneCfg(sparsity=0.5),
            train=gc.TrainCfg(
                steps=4, batch_size=8, log_every=1 if with_diagnostics else 1000,
                sample_every=1 if with_diagnostics else 0, eval_every=1 if with_diagnostics else 0,
            ),
            hooks={"sample": hook, "eval": hook}, seed=0,
        )  # fmt: skip
        assert bool(calls) == with_diagnostics
        return res.generator.state_dict()

    a, b = run(True), run(False)
    assert all(torch.equal(a[k], b[k]) for k in a)  # weights, masks and BN running statistics
