"""gancompress.pruning.channel_masks: channel masks over coupling groups — exact, removable, monotone under a schedule,
surviving optimizer steps and save/load, and shrinking every built-in family by >= 65 % of its MACs at 50 %."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.config import DataCfg, ModelCfg, PruneCfg
from gancompress.errors import UserError
from gancompress.pruning import MaskSet
from gancompress.pruning.channel_groups import dense_layer_macs
from gancompress.pruning.channel_masks import ChannelMaskSet
from gancompress.pruning.physical import remove_pruned_channels
from gancompress.pruning.pruner import Pruner
from gancompress.pruning.targets import keep_output_dense
from tests.pruning.nets import probe

pytest.importorskip("torch_pruning")
torch.set_num_threads(1)

SIZE = 16
FAMILY_CASES: dict[str, tuple[DataCfg, ModelCfg]] = {
    "dcgan": (DataCfg(name="fake", image_size=SIZE), ModelCfg(family="dcgan", nz=8, ngf=8, ndf=4)),
    "pix2pix": (DataCfg(name="fake_edges", image_size=SIZE), ModelCfg(family="pix2pix", ngf=8, ndf=4)),
    "cyclegan": (
        DataCfg(name="fake_unpaired", image_size=SIZE, classes=(2, 7)),
        ModelCfg(family="cyclegan", ngf=8, ndf=4, g_kwargs={"n_blocks": 2}),
    ),
    "stargan": (
        DataCfg(name="fake", image_size=SIZE, classes=(0, 3, 6)),
        ModelCfg(family="stargan", ngf=8, ndf=4, g_kwargs={"n_res": 2}),
    ),
    "srgan": (
        DataCfg(name="fake_sr", image_size=SIZE),
        ModelCfg(family="srgan", ngf=16, ndf=4, g_kwargs={"n_blocks": 2}, d_kwargs={"head_width": 8}),
    ),
}


def _shrink(model: nn.Module, x: tuple, ratio: float = 0.5, **kw) -> tuple[ChannelMaskSet, nn.Module, float]:
    prune = keep_output_dense(model, PruneCfg(granularity="channel", sparsity=ratio), x)
    masks = ChannelMaskSet.attach(model, exclude=prune.exclude, example_inputs=x, **kw)
    masks.update(ratio)
    model.eval()
    small, report = remove_pruned_channels(model, x, atol=1e-4)
    assert report["skipped"] == {}
    with torch.no_grad():
        assert float((small(*x) - model(*x)).abs().max()) <= 1e-4
    one = tuple(t[:1] for t in x)
    kept = sum(dense_layer_macs(small, one).values()) / sum(dense_layer_macs(model, one).values())
    assert kept == pytest.approx(masks.macs_fraction(), abs=1e-6)  # the prediction is the shrunk model's MACs
    return masks, small, kept


@pytest.mark.parametrize("family", sorted(FAMILY_CASES))
def test_every_family_shrinks_by_two_thirds_at_half_the_channels(family: str) -> None:
    from gancompress.families import get_family

    torch.manual_seed(0)
    data, model = FAMILY_CASES[family]
    fam = get_family(family)
    g, d = fam.build(model, data)
    x = fam.make_loss(g, d).sample_input(2, torch.Generator().manual_seed(0), "cpu")
    _, _, kept = _shrink(g, x)
    assert kept <= 0.35, f"{family}: only {1 - kept:.0%} of the MACs removed"


def test_probe_generator_shrinks_exactly() -> None:
    _, small, kept = _shrink(probe(), (torch.randn(2, 8),))
    assert kept <= 0.35
    assert (small.gn.num_groups, small.gn.num_channels) == (4, 16)  # whole GroupNorm groups removed
    assert small.c3.out_channels == 4 * small.c4.in_channels  # PixelShuffle blocks
    assert small.c2.groups == 4 and small.c2.in_channels % 4 == 0


def test_round_to_eight() -> None:
    torch.manual_seed(0)
    g = nn.Sequential(
        nn.Conv2d(3, 40, 3, padding=1), nn.BatchNorm2d(40), nn.ReLU(),
        nn.Conv2d(40, 56, 3, padding=1), nn.BatchNorm2d(56), nn.ReLU(), nn.Conv2d(56, 3, 3, padding=1),
    )  # fmt: skip
    _, small, _ = _shrink(g, (torch.randn(2, 3, 8, 8),), ratio=0.6, round_to=8)
    assert (small[0].out_channels, small[3].out_channels) == (16, 24)


def test_masks_survive_optimizer_steps_and_save_load(tmp_path) -> None:
    from gancompress.checkpoint import load_module, save_module

    model = probe()
    x = (torch.randn(4, 8),)
    masks = ChannelMaskSet.attach(model, exclude=["out"], example_inputs=x)
    masks.update(0.5)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        model(*x).square().mean().backward()
        masks.mask_grads()
        opt.step()
        masks.apply()
    dead = [sorted(m.pruned_local(p)) for g, p in zip(masks.groups, masks.pruned, strict=True) for m in g.producers()]
    producers = [m.module for g in masks.groups for m in g.producers()]
    for mod, gone in zip(producers, dead, strict=True):
        rows = mod.weight.detach() if not isinstance(mod, nn.ConvTranspose2d) else mod.weight.detach().transpose(0, 1)
        assert float(rows[gone].abs().sum()) == 0.0
    assert float(model.gn.weight.detach()[model.gn.channel_mask == 0].abs().sum()) == 0.0
    model.arch_spec = {"arch": "user", "model": "tests/pruning/nets.py:probe"}
    save_module(model, tmp_path, "g")
    fresh = load_module(tmp_path, "g", module=probe(seed=1))
    assert torch.equal(fresh.gn.channel_mask, model.gn.channel_mask)
    model.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(*x), model(*x))


def test_schedule_never_revives_a_pruned_channel() -> None:
    model = probe()
    x = (torch.randn(2, 8),)
    masks = ChannelMaskSet.attach(model, exclude=["out"], example_inputs=x)
    masks.update(0.25)
    first = [set(p) for p in masks.pruned]
    with torch.no_grad():  # consumers' input weights of dead channels grow large: they must not bring them back
        model.out.weight.mul_(100.0)
    masks.update(0.5)
    assert all(a <= b for a, b in zip(first, masks.pruned, strict=True))


def test_target_macs_through_the_pruner() -> None:
    model = probe()
    x = (torch.randn(2, 8),)
    pruner = Pruner.attach(
        model, PruneCfg(granularity="channel", target_macs=0.25, exclude=("out",), schedule="one_shot"),
        example_inputs=x, total_steps=10,
    )  # fmt: skip
    pruner.step(0)
    assert isinstance(pruner.masks, ChannelMaskSet)
    assert pruner.masks.macs_fraction() == pytest.approx(0.25, abs=0.03)
    assert pruner.cfg.sparsity == pytest.approx(pruner.masks.target_sparsity)
    with pytest.raises(UserError, match="out of reach"):
        Pruner.attach(probe(), PruneCfg(granularity="channel", target_macs=0.001, exclude=("out",)), example_inputs=x)


def test_bad_channel_configs() -> None:
    with pytest.raises(UserError, match="needs channel granularity"):
        PruneCfg(granularity="filter", target_macs=0.5)
    with pytest.raises(UserError, match="round_to"):
        PruneCfg(granularity="channel", round_to=0)
    with pytest.raises(UserError, match="example inputs"):
        ChannelMaskSet.attach(probe(), exclude=["out"])
    with pytest.raises(UserError, match="no group"):
        ChannelMaskSet.attach(nn.Sequential(nn.Conv2d(3, 3, 1)), example_inputs=(torch.randn(1, 3, 2, 2),))


def test_from_model_reads_channel_buffers_back() -> None:
    model = probe()
    masks = ChannelMaskSet.attach(model, exclude=["out"], example_inputs=(torch.randn(2, 8),))
    masks.update(0.5)
    again = MaskSet.from_model(model)
    assert again.overall_sparsity() == pytest.approx(masks.overall_sparsity())
