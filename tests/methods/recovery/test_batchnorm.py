"""methods/recovery/batchnorm.py and ``method.bn_reestimate``: statistics re-estimated on the masked model, nothing
else changed (docs/pruning.md "Recovery after pruning")."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gancompress as gc
from gancompress.config import MethodCfg
from gancompress.data import InfiniteLoader
from gancompress.methods import create_method
from gancompress.methods.recovery import has_batchnorm, reestimate_batchnorm
from gancompress.pruning import MaskSet

pytestmark = pytest.mark.usefixtures("one_thread")

DATA_CFG = gc.DataCfg(name="fake", image_size=16)
MODEL_CFG = gc.ModelCfg(nz=16, ngf=8, ndf=8)


def _masked_net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 1, 3))
    example = (torch.randn(2, 2, 8, 8),)
    masks = MaskSet.attach(net, exclude=["3"], granularity="filter", example_inputs=example)
    masks.update(0.5)  # 3 of conv 0's 6 filters (and their bias entries / BN channels) are pruned
    masks.apply()
    with torch.no_grad():  # stale statistics, as an unpruned network left them
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    return net


def test_reestimation_gives_the_masked_models_batch_statistics() -> None:
    net = _masked_net()
    net.eval()
    inputs = [(torch.randn(5, 2, 8, 8) * (i + 1),) for i in range(3)]
    assert reestimate_batchnorm(net, inputs) == 1
    with torch.no_grad():
        acts = [net[0](*x) for x in inputs]  # the masked conv's outputs: what the BatchNorm normalises
    means = torch.stack([a.mean(dim=(0, 2, 3)) for a in acts])
    variances = torch.stack([a.var(dim=(0, 2, 3), unbiased=True) for a in acts])
    bn = net[1]
    # momentum=None: the cumulative average of the per-batch statistics (equal batch sizes: their plain mean)
    torch.testing.assert_close(bn.running_mean, means.mean(0))
    torch.testing.assert_close(bn.running_var, variances.mean(0))
    pruned = net[0].weight_mask.flatten(1).sum(1) == 0
    assert int(pruned.sum()) == 3
    assert torch.equal(bn.running_mean[pruned], torch.zeros(3))  # a removed channel is exactly 0 in every batch
    assert int(bn.num_batches_tracked) == 3 and bn.momentum == 0.1  # momentum restored
    assert not net.training and not bn.training  # modes restored


def test_no_batchnorm_is_a_no_op() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.InstanceNorm2d(4, affine=True), nn.ReLU())
    before = {k: v.clone() for k, v in net.state_dict().items()}

    def never():  # the inputs are not even drawn
        raise AssertionError("inputs consumed")
        yield

    assert not has_batchnorm(net)
    assert reestimate_batchnorm(net, never()) == 0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_other_buffers_are_restored() -> None:
    net = nn.Sequential(nn.utils.spectral_norm(nn.Linear(3, 4)), nn.BatchNorm1d(4))
    u = net[0].weight_u.clone()
    reestimate_batchnorm(net, [(torch.randn(8, 3),)])
    assert torch.equal(net[0].weight_u, u)  # spectral norm's power iteration did not advance
    assert int(net[1].num_batches_tracked) == 1


def test_method_recalibrate_uses_training_batches_and_leaves_rng_and_loader() -> None:
    data = gc.load_dataset(DATA_CFG, "train")
    torch.manual_seed(0)
    g, d = gc.get_family("dcgan").build(MODEL_CFG, DATA_CFG)
    loss = gc.get_family("dcgan").make_loss(g, d)
    method = create_method(MethodCfg(bn_reestimate=2))
    g_comp = gc.get_family("dcgan").build(MODEL_CFG, DATA_CFG)[0]
    method.setup(g_comp, g, d, loss)
    loader = InfiniteLoader(data, 8, seed=0)
    peeked: list[int] = []

    def batches(n: int) -> list[dict]:
        peeked.append(n)
        state = loader.state_dict()
        out = [loader.next_batch() for _ in range(n)]
        loader.load_state_dict(state)
        return out

    torch.manual_seed(5)
    method.recalibrate(batches)
    after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(3))  # the training random stream is untouched
    assert peeked == [2] and loader.state_dict() == {"epoch": 0, "position": 0}
    bns = [m for m in g_comp.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(int(m.num_batches_tracked) == 2 for m in bns)
    method_off = create_method(MethodCfg())
    method_off.setup(g_comp, g, d, loss)
    method_off.recalibrate(batches)
    assert peeked == [2]  # off: no batch drawn


def test_in_the_loop_only_running_statistics_change() -> None:
    """Every network trains in train mode (docs/decisions.md "Normalisation mode"): re-estimated statistics change
    the eval-mode generator only. Weights and logged losses equal a run without; with train.ema the statistics are
    re-estimated once more on the averaged weights at the end."""
    data = gc.load_dataset(DATA_CFG, "train")
    torch.manual_seed(0)
    g, d = gc.get_family("dcgan").build(MODEL_CFG, DATA_CFG)

    def run(method: MethodCfg, ema: float = 0.0):
        return gc.compress(
            g, d, data, family="dcgan", method=method, prune=gc.PruneCfg(sparsity=0.5, update_every=1),
            train=gc.TrainCfg(steps=4, batch_size=8, log_every=1, ema=ema), seed=0,
        )  # fmt: skip

    off, on = run(MethodCfg()), run(MethodCfg(bn_reestimate=3))
    assert on.train.history == off.train.history
    a, b = off.generator.state_dict(), on.generator.state_dict()
    stats = [k for k in a if "running_" in k]
    assert stats and all(not torch.equal(a[k], b[k]) for k in stats)
    assert all(torch.equal(a[k], b[k]) for k in a if "running_" not in k and "num_batches" not in k)
    with_ema = run(MethodCfg(bn_reestimate=3), ema=0.5)
    counts = [int(m.num_batches_tracked) for m in with_ema.generator.modules() if isinstance(m, nn.BatchNorm2d)]
    assert counts and set(counts) == {3}  # re-estimated after the average replaced the weights
