"""Per-layer sparsity allocation: uniform, global threshold, per-layer overrides (pruning/allocation.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.config import PruneCfg, override
from gancompress.errors import UserError
from gancompress.models import create_model
from gancompress.pruning import MaskSet
from gancompress.pruning.allocation import layer_sparsities
from gancompress.pruning.granularity import make_granularity


def three_convs() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 6, 3))
    with torch.no_grad():  # very different scales per layer: global pruning must take more from the small one
        net[0].weight.mul_(0.01)
        net[2].weight.mul_(10.0)
    return net


def weights_pruned(net: nn.Module) -> tuple[int, int]:
    convs = [m for m in net.modules() if hasattr(m, "weight_mask")]
    return sum(int((m.weight_mask == 0).sum()) for m in convs), sum(m.weight_mask.numel() for m in convs)


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.8])
def test_global_element_prunes_exactly_the_target_and_lowest_magnitudes(sparsity: float) -> None:
    net = three_convs()
    masks = MaskSet.attach(net).configure(scope="global", final_sparsity=sparsity)
    masks.update(sparsity)
    pruned, total = weights_pruned(net)
    assert abs(pruned - round(sparsity * total)) <= 1
    kept = torch.cat([m.weight.detach().abs().flatten()[m.weight_mask.flatten() > 0] for m in net])
    gone = torch.cat([m.weight.detach().abs().flatten()[m.weight_mask.flatten() == 0] for m in net])
    assert gone.max() <= kept.min() + 1e-12  # one threshold across layers
    per_layer = masks.last_layer_sparsity
    assert per_layer["0"] > sparsity > per_layer["2"]  # the 0.01-scaled layer loses most


def test_global_never_empties_a_layer() -> None:
    net = three_convs()
    with torch.no_grad():
        net[0].weight.mul_(1e-6)
    masks = MaskSet.attach(net, granularity="filter").configure(scope="global")
    masks.update(0.6)
    for m in net:
        alive = (m.weight_mask.reshape(m.weight_mask.shape[0], -1).sum(1) > 0).sum()
        assert alive >= 1


def test_uniform_is_the_default_and_matches_per_layer() -> None:
    net = three_convs()
    MaskSet.attach(net).update(0.5)
    for m in net:
        assert float((m.weight_mask == 0).float().mean()) == pytest.approx(0.5, abs=1 / m.weight.numel())


def test_layer_overrides_pin_layers_and_ramp_with_the_schedule() -> None:
    net = three_convs()
    masks = MaskSet.attach(net).configure(layer_sparsity={"1": 0.9}, final_sparsity=0.5)
    masks.update(0.25)  # halfway through the ramp: the override is at half its final value too
    assert masks.last_layer_sparsity == {"0": 0.25, "1": pytest.approx(0.45), "2": 0.25}
    masks.update(0.5)
    assert masks.last_layer_sparsity["1"] == pytest.approx(0.9)
    assert float((net[1].weight_mask == 0).float().mean()) == pytest.approx(0.9, abs=1 / net[1].weight.numel())


def test_global_with_overrides_leaves_pinned_layers_out() -> None:
    layers = {"a": nn.Linear(4, 4), "b": nn.Linear(4, 4), "c": nn.Linear(4, 4)}
    scores = {"a": torch.ones(4, 4), "b": torch.full((4, 4), 2.0), "c": torch.full((4, 4), 0.1)}
    got = layer_sparsities(layers, scores, make_granularity("element"), 0.5, scope="global", layer_sparsity={"c": 0.0})
    assert got["c"] == 0.0
    # 50 % of all 48 weights = 24, all from a and b since c is pinned dense
    assert (got["a"] + got["b"]) * 16 == pytest.approx(24)


def test_policy_errors() -> None:
    net = three_convs()
    with pytest.raises(UserError, match="matches no pruned layer"):
        MaskSet.attach(net).configure(layer_sparsity={"nope": 0.5})
    with pytest.raises(UserError, match=r"\[0, 1\)"):
        MaskSet.attach(net).configure(layer_sparsity={"1": 1.5})
    with pytest.raises(UserError, match="fixed per group"):
        MaskSet.attach(nn.Sequential(nn.Conv2d(8, 8, 3)), granularity="nm").configure(scope="global")
    with pytest.raises(UserError, match=r"prune\.scope"):
        PruneCfg(scope="local")


def test_config_override_parses_layer_sparsity() -> None:
    from gancompress.config import RunCfg

    cfg = override(RunCfg(), ['prune.layer_sparsity={"net.3": 0.7}', "prune.scope=global"])
    assert cfg.prune.layer_sparsity == {"net.3": 0.7} and cfg.prune.scope == "global"
    with pytest.raises(UserError, match="layer_sparsity"):
        override(RunCfg(), ['prune.layer_sparsity={"net.3": "x"}'])


def test_global_filter_on_a_generator_keeps_outputs_removable() -> None:
    from gancompress.pruning.physical import remove_pruned_channels

    torch.manual_seed(0)
    g = create_model("dcgan_generator", nz=16, ngf=8, channels=1, image_size=32).eval()
    convs = [n for n, m in g.named_modules() if isinstance(m, nn.ConvTranspose2d)]
    x = (torch.randn(2, 16),)
    masks = MaskSet.attach(g, granularity="filter", exclude=(convs[-1],), example_inputs=x)
    masks.configure(scope="global").update(0.5, importance="bn_scale")
    _, report = remove_pruned_channels(g, x)
    assert report["max_abs_diff"] <= 1e-5
    assert sum(report["removed"].values()) > 0
