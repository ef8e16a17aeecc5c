"""Filter pruning's coupling (pruning/coupling.py, MaskSet): biases and the norms consuming a pruned channel are
masked too — traced or by module order — and stay exactly zero through optimizer steps and reloads.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.checkpoint import load_state_dict_checked
from gancompress.pruning import MaskSet
from gancompress.pruning.coupling import coupled_norms
from tests.pruning.nets import custom_model, train_steps

pytest.importorskip("torch_pruning")


torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------- coupling in MaskSet


def test_filter_couples_bias_and_norms_traced_and_by_order() -> None:
    model = custom_model()
    x = torch.randn(2, 3, 8, 8)
    masks = MaskSet.attach(model, granularity="filter", exclude=["head"], example_inputs=(x,))
    expected = {"conv": ["bn"], "up": ["inorm"], "down": [], "fc": []}
    assert masks.coupled() == expected
    assert coupled_norms(model, dict(masks.items())) == expected  # module-order fallback agrees here
    sd = model.state_dict()
    assert {"conv.bias_mask", "up.bias_mask", "fc.bias_mask", "bn.channel_mask", "inorm.channel_mask"} <= set(sd)
    assert not any(k.endswith("_mask") for k in sd if k.startswith("head."))


def test_fallback_respects_module_order_limits() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8), nn.Linear(4, 6), nn.BatchNorm1d(5))
    found = coupled_norms(net, {"0": net[0], "1": net[1], "3": net[3]})
    assert found == {"0": [], "1": ["2"], "3": []}  # stops at the next prunable layer; sizes must match


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_pruned_channels_are_exactly_zero_after_norm(mode: str) -> None:
    model = custom_model()
    x = torch.randn(4, 3, 8, 8)
    masks = MaskSet.attach(model, granularity="filter", exclude=["head"], example_inputs=(x,))
    masks.update(0.5)
    getattr(model, mode)()
    seen = {}
    hooks = [
        getattr(model, n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o)) for n in ("bn", "inorm")
    ]
    model(x)
    for h in hooks:
        h.remove()
    for layer, norm in (("conv", "bn"), ("up", "inorm")):
        dead = getattr(model, norm).channel_mask == 0
        assert int(dead.sum()) == {"conv": 8, "up": 6}[layer]
        assert torch.equal(getattr(model, layer).bias_mask, getattr(model, norm).channel_mask)
        assert bool((seen[norm][:, dead] == 0).all())
        assert bool((seen[norm][:, ~dead].abs().sum(dim=(0, 2, 3)) > 0).all())


def test_coupled_masks_survive_optimizer_steps() -> None:
    model = custom_model()
    x = torch.randn(4, 3, 8, 8)
    masks = MaskSet.attach(model, granularity="filter", exclude=["head"], example_inputs=(x,))
    masks.update(0.5)
    before = {k: v.clone() for k, v in model.state_dict().items() if k.endswith("_mask")}
    train_steps(model, masks, x, steps=4)
    state = model.state_dict()
    for key, mask in before.items():
        assert torch.equal(state[key], mask), key
        owner = key.rpartition(".")[0]
        tensors = {"weight_mask": ["weight"], "bias_mask": ["bias"], "channel_mask": ["weight", "bias"]}
        for t in tensors[key.rpartition(".")[2]]:
            assert bool((state[f"{owner}.{t}"][mask == 0] == 0).all()), f"{owner}.{t}"
    assert bool((model.bn.running_mean[model.bn.channel_mask == 0] == 0).all())


def test_other_granularities_leave_biases_and_norms_alone() -> None:
    model = custom_model()
    masks = MaskSet.attach(model, granularity="element", exclude=["head"])
    masks.update(0.5)
    assert not any(k.endswith(("bias_mask", "channel_mask")) for k in model.state_dict())
    masks.update(0.5, granularity="filter", example_inputs=(torch.randn(1, 3, 8, 8),))  # traced inside no_grad
    assert masks.coupled()["up"] == ["inorm"]
    assert float(model.bn.channel_mask.sum()) == 8.0 and float(model.inorm.channel_mask.sum()) == 6.0
    masks.update(0.5, granularity="element")
    assert bool((model.bn.channel_mask == 1).all()) and bool((model.conv.bias_mask == 1).all())


def test_coupled_masks_load_into_fresh_model() -> None:
    model = custom_model()
    MaskSet.attach(model, granularity="filter", exclude=["head"]).update(0.5)
    fresh = custom_model(seed=1)
    load_state_dict_checked(fresh, model.state_dict(), "mem")  # creates weight/bias/channel masks on demand
    assert torch.equal(fresh.bn.channel_mask, model.bn.channel_mask)
    restored = MaskSet.from_model(fresh, granularity="filter")
    assert restored.names == ["conv", "up", "down", "fc"]
    fresh.bn.weight.data.fill_(3.0)
    restored.apply()
    assert bool((fresh.bn.weight[fresh.bn.channel_mask == 0] == 0).all())
