"""gancompress.pruning.physical: physical channel removal equals the masked model, never touches the output layer,
keeps channels that are not dead everywhere, and graphs torch-pruning cannot follow are kept exact.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.pruning import MaskSet, count_parameters
from gancompress.pruning.physical import remove_pruned_channels
from tests.pruning.nets import custom_model, dcgan, randomise_norms, train_steps

pytest.importorskip("torch_pruning")


torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------- physical removal


def test_dcgan_physical_equals_masked() -> None:
    g = dcgan()
    z = torch.randn(8, 16)
    masks = MaskSet.attach(g, granularity="filter", exclude=["net.9"], example_inputs=(z[:2],))
    masks.update(0.5)
    train_steps(g, masks, z)  # non-trivial BatchNorm running statistics
    g.eval()
    shapes = {k: tuple(v.shape) for k, v in g.state_dict().items()}
    small, report = remove_pruned_channels(g, (z[:2],))
    # the original is untouched
    assert {k: tuple(v.shape) for k, v in g.state_dict().items()} == shapes
    assert report["removed"] == {"net.0": 32, "net.3": 16, "net.6": 8}
    assert report["skipped"] == {}
    assert not any(k.endswith("_mask") for k in small.state_dict())
    with torch.no_grad():
        diff = float((small(z) - g(z)).abs().max())
    assert diff <= 1e-5
    # ConvT weights (in, out, k, k): 16·64 + 64·32 + 32·16 + 16·1 (×16) → halved widths: 16·32 + 32·16 + 16·8 + 8·1
    expected = 16 * (16 * 32 + 32 * 16 + 16 * 8 + 8 * 1) + 2 * (32 + 16 + 8)
    assert report["params_after"] == count_parameters(small) == expected
    assert report["params_before"] == count_parameters(g)
    assert count_parameters(small) / count_parameters(g) < 0.35
    assert small.channel_spec["net.1"] == {"type": "BatchNorm2d", "num_features": 32}


def test_custom_model_physical_equals_masked() -> None:
    model = custom_model()
    x = torch.randn(4, 3, 8, 8)
    masks = MaskSet.attach(model, granularity="filter", exclude=["head"], example_inputs=(x[:2],))
    masks.update(0.5)
    train_steps(model, masks, x)
    model.eval()
    small, report = remove_pruned_channels(model, (x[:2],))
    assert report["removed"] == {"conv": 8, "up": 6, "down": 4, "fc": 10}
    assert (small.conv.out_channels, small.bn.num_features, small.up.in_channels) == (8, 8, 8)
    assert (small.up.out_channels, small.inorm.num_features, small.down.in_channels) == (6, 6, 6)
    assert (small.fc.in_features, small.fc.out_features, small.head.in_features) == (64, 10, 10)
    assert small.head.out_features == 5
    with torch.no_grad():
        assert float((small(x) - model(x)).abs().max()) <= 1e-5
    assert all(m.training == n.training for m, n in zip(small.modules(), model.modules(), strict=True))


def test_output_layer_channels_are_never_removed() -> None:
    g = dcgan()
    z = torch.randn(2, 16)
    MaskSet.attach(g, granularity="filter").update(0.5)
    assert g.net[9].weight_mask.all()  # a 1-filter layer keeps its filter at 50 % (num_pruned keeps one unit) …
    g.net[9].weight_mask.zero_()  # … so kill the output channel by hand: it must still never be removed
    small, report = remove_pruned_channels(g.eval(), (z,))
    assert "net.9" in report["skipped"] and "model output" in report["skipped"]["net.9"]
    assert small.net[9].out_channels == 1 and small(z).shape == (2, 1, 32, 32)


def test_channels_not_dead_everywhere_are_kept() -> None:
    # Legacy-style mask: zero filters but no coupled masks, so BatchNorm's β makes the channels constants, not dead.
    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 3, 3))
    randomise_norms(net)
    mask = torch.ones_like(net[0].weight)
    mask[:4] = 0
    net[0].register_buffer("weight_mask", mask)
    x = torch.randn(2, 3, 8, 8)
    small, report = remove_pruned_channels(net.eval(), (x,))
    assert report["removed"] == {} and small[0].out_channels == 8
    # Same with a bias: a zero filter plus a bias is the constant relu(b), not a dead channel.
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3))
    net[0].register_buffer("weight_mask", mask)
    small, report = remove_pruned_channels(net.eval(), (x,))
    assert report["removed"] == {} and small[0].out_channels == 8

    # A residual add couples a masked and a dense producer: only channels dead in both may go (here: none).
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.out = nn.Conv2d(3, 8, 1), nn.Conv2d(3, 8, 1), nn.Conv2d(8, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.a(x) + self.b(x))

    res = Residual()
    MaskSet.attach(res, granularity="filter", exclude=["b", "out"]).update(0.5)
    small, report = remove_pruned_channels(res.eval(), (x,))
    assert report["removed"] == {} and small.a.out_channels == 8
    with torch.no_grad():
        assert torch.equal(small(x), res(x))


def test_no_masks_is_an_error() -> None:
    with pytest.raises(UserError, match="no weight_mask"):
        remove_pruned_channels(custom_model(), (torch.randn(1, 3, 8, 8),))


def test_nonzero_activation_keeps_the_layer_whole_with_the_reason() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Sigmoid(), nn.Conv2d(8, 2, 1))  # sigmoid(0) = 0.5 ≠ 0
    MaskSet.attach(net, granularity="filter", exclude=["2"]).update(0.5)
    x = torch.randn(2, 3, 4, 4)
    small, report = remove_pruned_channels(net.eval(), (x,))
    assert report["removed"] == {} and "the output changed by" in report["skipped"]["0"]
    assert report["max_abs_diff"] == 0.0 and count_parameters(small) == count_parameters(net)


class _ConstantAfterConv(nn.Module):
    """A pruned conv output plus a registered constant: its channels are not dead (probe case B6)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 3, 3, padding=1)
        self.register_buffer("noise", torch.randn(1, 8, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x) + self.noise))


class _LinearIntoConv(nn.Module):
    """A Linear reshaped into conv channels (DCGAN-style stem without a norm in between; probe case B3)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.conv, self.out = nn.Linear(16, 8 * 4 * 4), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.conv(torch.relu(self.fc(z)).view(-1, 8, 4, 4))))


class _CatOfViews(nn.Module):
    """Two Linear outputs reshaped and concatenated into conv channels (a conditional stem; probe case B3)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.embed = nn.Linear(16, 8 * 4 * 4), nn.Linear(3, 4 * 4 * 4)
        self.conv, self.out = nn.ConvTranspose2d(12, 8, 4, 2, 1), nn.Conv2d(8, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.fc(z).view(-1, 8, 4, 4), self.embed(z[:, :3]).view(-1, 4, 4, 4)], 1)
        return self.out(torch.relu(self.conv(torch.relu(h))))


@pytest.mark.parametrize(
    ("make", "x"),
    [
        (_ConstantAfterConv, torch.randn(2, 3, 8, 8)),
        (_LinearIntoConv, torch.randn(2, 16)),
        (_CatOfViews, torch.randn(2, 16)),
    ],
)
def test_graphs_torch_pruning_cannot_follow_are_kept_exact(make, x) -> None:
    """Every group is checked against the masked model as it is removed; one that breaks it is undone and reported."""
    torch.manual_seed(0)
    net = make().eval()
    excluded = "b" if make is _ConstantAfterConv else "out"
    MaskSet.attach(net, granularity="filter", exclude=[excluded]).update(0.5)
    with torch.no_grad():
        masked = net(x)
    small, report = remove_pruned_channels(net, (x,))
    with torch.no_grad():
        assert torch.allclose(small.eval()(x), masked, atol=1e-5)
    reasons = ("breaks the model", "changed", "cannot be traced")
    assert report["skipped"] and all(any(r in why for r in reasons) for why in report["skipped"].values())
