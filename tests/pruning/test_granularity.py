"""gancompress.pruning.granularity: element, vector, kernel, filter and N:M masks; names and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.pruning import (
    GRANULARITIES,
    NM,
    MaskSet,
    make_granularity,
    num_pruned,
)
from tests.pruning.nets import LAYERS, make_model, units_zero

# ------------------------------------------------------------------------------------------------- granularities


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.75])
def test_element_exact_sparsity(sparsity: float) -> None:
    model = make_model()
    masks = MaskSet.attach(model, granularity="element")
    masks.update(sparsity)
    for row in masks.sparsity_report():
        assert row["numel"] - row["nonzero"] == num_pruned(sparsity, row["numel"])
    assert len(masks) == 3 and masks.names == list(LAYERS)


def test_element_prunes_smallest_magnitudes() -> None:
    model = make_model()
    masks = MaskSet.attach(model)
    w = model.conv.weight.detach().clone()
    masks.update(0.5)
    kept = w.abs()[model.conv.weight_mask.bool()]
    pruned = w.abs()[~model.conv.weight_mask.bool()]
    assert pruned.max() <= kept.min()
    assert bool((model.conv.weight[~model.conv.weight_mask.bool()] == 0).all())


def test_vector_rows() -> None:
    model = make_model()
    masks = MaskSet.attach(model, granularity="vector")
    masks.update(0.5)
    # Conv: kernel rows (last dim); ConvTranspose2d likewise.
    for name in ("up", "conv"):
        mask = getattr(model, name).weight_mask
        zero = units_zero(mask, (3,))
        assert int(zero.sum()) == num_pruned(0.5, zero.numel())
    # Linear: 4 consecutive inputs.
    zero = units_zero(model.fc.weight_mask.view(32, 4, 4), (2,))
    assert int(zero.sum()) == num_pruned(0.5, 32 * 4)


def test_kernel_whole_kernels() -> None:
    model = nn.Sequential(nn.ConvTranspose2d(8, 6, 3), nn.Conv2d(6, 5, 3))
    masks = MaskSet.attach(model, granularity="kernel")
    masks.update(0.4)
    for mod in model:
        zero = units_zero(mod.weight_mask, (2, 3))
        assert int(zero.sum()) == num_pruned(0.4, zero.numel())


def test_filter_output_channels() -> None:
    model = make_model()
    masks = MaskSet.attach(model, granularity="filter")
    masks.update(0.5)
    assert int(units_zero(model.conv.weight_mask, (1, 2, 3)).sum()) == 2  # Conv2d: dim 0
    zero_up = units_zero(model.up.weight_mask, (0, 2, 3))  # ConvTranspose2d: output channel is dim 1
    assert int(zero_up.sum()) == 6
    assert int(units_zero(model.fc.weight_mask, (1,)).sum()) == 16  # Linear: rows
    # Functionally: a pruned ConvTranspose2d output channel carries only its bias.
    model.up.bias.data.zero_()
    out = model.up(torch.randn(2, 8, 5, 5))
    assert bool((out[:, zero_up] == 0).all())
    assert bool((out[:, ~zero_up].abs().sum(dim=(0, 2, 3)) > 0).all())


@pytest.mark.parametrize("cls", [nn.Conv2d, nn.ConvTranspose2d])
def test_filter_grouped_conv_zeroes_output_channels(cls: type[nn.Module]) -> None:
    torch.manual_seed(0)
    layer = cls(4, 6, 3, groups=2, bias=False)
    masks = MaskSet.attach(layer, granularity="filter")
    masks.update(0.5)
    out = layer(torch.randn(2, 4, 5, 5))
    dead = out.abs().sum(dim=(0, 2, 3)) == 0
    assert int(dead.sum()) == 3  # exactly half of the 6 output channels
    assert masks.overall_sparsity() == pytest.approx(0.5)


def test_nm_two_of_four() -> None:
    model = make_model()
    masks = MaskSet.attach(model, granularity="nm")
    masks.update(0.5)
    # Conv2d (out, in, kH, kW): groups of 4 consecutive inputs along dim 1.
    m = model.conv.weight_mask
    assert bool((m.view(4, 3, 4, 3, 3).sum(dim=2) == 2).all())
    # ConvTranspose2d (in, out, kH, kW): inputs are dim 0.
    m = model.up.weight_mask
    assert bool((m.view(2, 4, 12, 4, 4).sum(dim=1) == 2).all())
    # Linear (out, in).
    assert bool((model.fc.weight_mask.view(32, 4, 4).sum(dim=2) == 2).all())
    for row in masks.sparsity_report():
        assert row["sparsity"] == 0.5


def test_nm_keeps_largest_in_group() -> None:
    layer = nn.Linear(8, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.1, -5.0, 0.2, 3.0, 1.0, 1.0, -1.0, 0.5]]))
    MaskSet.attach(layer, granularity="nm").update(0.5)
    # Ties (1, 1, -1) go to the lower index being pruned first.
    assert layer.weight_mask.tolist() == [[0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]]


def test_nm_ignores_requested_sparsity_except_zero() -> None:
    model = make_model()
    masks = MaskSet.attach(model, granularity="nm:1:4")
    masks.update(0.0)
    assert masks.overall_sparsity() == 0.0
    masks.update(0.1)
    assert masks.overall_sparsity() == pytest.approx(0.75)


def test_nm_bad_input_size_names_layer() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3))
    with pytest.raises(UserError, match=r"'0'.*3 input channels.*element.*exclude"):
        MaskSet.attach(model, granularity="nm")
    masks = MaskSet.attach(model, granularity="nm", exclude=("0",))
    assert masks.names == ["1"]


def test_kernel_on_linear_raises() -> None:
    with pytest.raises(UserError, match=r"'fc'.*Linear.*element"):
        MaskSet.attach(make_model(), granularity="kernel")


def test_vector_on_odd_linear_raises() -> None:
    with pytest.raises(UserError, match=r"'0'.*in_features=6"):
        MaskSet.attach(nn.Sequential(nn.Linear(6, 4)), granularity="vector")


def test_num_pruned_rounds_half_up() -> None:
    assert num_pruned(0.5, 5) == 3
    assert num_pruned(0.35, 90) == 32  # 31.499999999999996 in floating point
    assert (num_pruned(0.5, 1), num_pruned(0.9, 5), num_pruned(1.0, 5)) == (0, 4, 5)  # < 1 keeps one unit
    assert num_pruned(0.0, 7) == 0 and num_pruned(1.0, 7) == 7


def test_make_granularity_names() -> None:
    assert isinstance(make_granularity("nm"), NM)
    g = make_granularity("nm:1:4")
    assert (g.n, g.m) == (1, 4)
    g = make_granularity("2:8")
    assert (g.n, g.m, g.fixed_sparsity) == (2, 8, 0.75)
    assert make_granularity("filter").name == "filter"
    with pytest.raises(UserError, match="1 <= N < M"):
        make_granularity("4:4")
    assert set(GRANULARITIES.names()) == {"element", "vector", "kernel", "filter", "channel", "nm"}


def test_unknown_granularity_lists_valid_values() -> None:
    with pytest.raises(UserError, match=r"channel, element, filter, kernel, nm, vector.*Did you mean 'filter'"):
        make_granularity("filtr")
    with pytest.raises(UserError, match="valid values"):
        MaskSet.attach(make_model(), granularity="channels_last")
