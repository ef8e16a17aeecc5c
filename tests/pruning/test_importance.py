"""gancompress.pruning.importance: magnitude / L2 / random / BN-scale criteria rank the units as defined."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.pruning import (
    IMPORTANCES,
    MaskSet,
)
from tests.pruning.nets import make_model

# ---------------------------------------------------------------------------------------------------- importance


def test_magnitude_and_l2_rank_units_by_norm() -> None:
    rows = torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, 0.0, 0.0, 0.0], [2.0, -2.0, 0.5, 0.0]])
    # L1: 4, 3, 4.5 → magnitude prunes row 1. Squared L2: 4, 9, 8.25 → l2 prunes row 0.
    for importance, pruned in (("magnitude", 1), ("l2", 0)):
        layer = nn.Linear(4, 3, bias=False)
        with torch.no_grad():
            layer.weight.copy_(rows)
        MaskSet.attach(layer, granularity="filter").update(1 / 3, importance=importance)
        assert layer.weight_mask.sum(dim=1).tolist() == [0.0 if i == pruned else 4.0 for i in range(3)]


def test_kernel_magnitude_picks_smallest_l1_kernel() -> None:
    layer = nn.Conv2d(2, 2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.ones(2, 2, 2, 2))
        layer.weight[1, 0] = torch.tensor([[0.9, -0.9], [0.9, 0.9]])  # L1 3.6 < 4, though |w| is close
    MaskSet.attach(layer, granularity="kernel").update(0.25)
    assert layer.weight_mask.sum(dim=(2, 3)).tolist() == [[4.0, 4.0], [0.0, 4.0]]


def test_importance_functions() -> None:
    w = torch.tensor([[-2.0, 0.5], [0.0, 3.0]])
    assert torch.equal(IMPORTANCES.get("magnitude")(w), w.abs())
    assert torch.equal(IMPORTANCES.get("l2")(w), w * w)
    rnd = IMPORTANCES.get("random")
    a = rnd(w, generator=torch.Generator().manual_seed(7))
    b = rnd(w, generator=torch.Generator().manual_seed(7))
    assert a.shape == w.shape and torch.equal(a, b)
    assert not torch.equal(a, rnd(w, generator=torch.Generator().manual_seed(8)))


def test_random_importance_masks_reproducible() -> None:
    got = []
    for _ in range(2):
        model = make_model()
        MaskSet.attach(model).update(0.5, importance="random", generator=torch.Generator().manual_seed(3))
        got.append(model.conv.weight_mask.clone())
    assert torch.equal(got[0], got[1])
    with pytest.raises(UserError, match="valid values"):
        MaskSet.attach(make_model()).update(0.5, importance="taylor")


# ----------------------------------------------------------------------------------------------------- schedules


def test_bn_scale_importance_keeps_the_largest_gamma_channels() -> None:
    from gancompress.models import create_model

    torch.manual_seed(0)
    g = create_model("dcgan_generator", nz=16, ngf=8, channels=1, image_size=32)
    norms = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in norms:  # distinct |γ|, deliberately unrelated to the conv filters' L1 norms
        bn.weight.data = torch.randperm(bn.num_features).float() + 1.0
    gammas = [bn.weight.detach().abs().clone() for bn in norms]
    convs = [n for n, m in g.named_modules() if isinstance(m, nn.ConvTranspose2d)]
    masks = MaskSet.attach(g, granularity="filter", exclude=(convs[-1],), example_inputs=(torch.randn(2, 16),))
    assert masks.update(0.5, importance="bn_scale") == pytest.approx(0.5)
    for bn, gamma in zip(norms, gammas, strict=True):
        expected = (gamma > len(gamma) / 2).float()  # γ is a permutation of 1..n: the top half survives
        assert torch.equal(bn.channel_mask, expected)


def test_bn_scale_importance_needs_filter_granularity() -> None:
    g = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
    with pytest.raises(UserError, match="granularity filter"):
        MaskSet.attach(g, granularity="element").update(0.5, importance="bn_scale")
    with pytest.raises(UserError, match="unknown importance"):
        MaskSet.attach(g, granularity="element").update(0.5, importance="nope")
