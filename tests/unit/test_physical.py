"""Unit tests for filter-pruning coupling (MaskSet) and physical channel removal (gancompress.pruning.physical)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.io import load_module, load_state_dict_checked, read_json, save_module
from gancompress.models import create_model
from gancompress.pruning import MaskSet, count_parameters
from gancompress.pruning.physical import apply_channel_spec, channel_spec, coupled_norms, remove_pruned_channels

pytest.importorskip("torch_pruning")
torch.set_num_threads(1)


class Custom(nn.Module):
    """Conv2d(bias) → BN → ReLU → ConvTranspose2d → InstanceNorm(affine) → LeakyReLU → Conv2d → flatten → Linear…"""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.up = nn.ConvTranspose2d(16, 12, 4, stride=2, padding=1)
        self.inorm = nn.InstanceNorm2d(12, affine=True)
        self.down = nn.Conv2d(12, 8, 4, stride=4)
        self.fc = nn.Linear(8 * 4 * 4, 20)
        self.head = nn.Linear(20, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        x = nn.functional.leaky_relu(self.inorm(self.up(x)), 0.2)
        x = torch.relu(self.fc(self.down(x).flatten(1)))
        return self.head(x)


def randomise_norms(model: nn.Module) -> None:
    """Non-trivial affine parameters and running statistics, as after training."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-1.0, 1.0)
                if m.running_mean is not None:
                    m.running_mean.uniform_(-1.0, 1.0)
                    m.running_var.uniform_(0.5, 2.0)


def custom_model(seed: int = 0) -> Custom:
    torch.manual_seed(seed)
    model = Custom()
    randomise_norms(model)
    return model


def dcgan(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model("dcgan_generator", nz=16, ngf=16, channels=1, image_size=32)


def train_steps(model: nn.Module, masks: MaskSet, inputs: torch.Tensor, steps: int = 3) -> None:
    """Masked Adam steps in train mode (moves weights and BatchNorm running statistics)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model(inputs).square().mean().backward()
        masks.mask_grads()
        opt.step()
        masks.apply()


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


# ------------------------------------------------------------------------------------------- physical removal
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


# ------------------------------------------------------------------------------------------- channel spec + io
def test_save_load_rebuilds_smaller_generator(tmp_path) -> None:
    g = dcgan()
    z = torch.randn(4, 16)
    masks = MaskSet.attach(g, granularity="filter", exclude=["net.9"])
    masks.update(0.5)
    train_steps(g, masks, z)
    small, _ = remove_pruned_channels(g.eval(), (z[:2],))
    save_module(small, tmp_path, "generator")
    meta = read_json(tmp_path / "generator.json")
    assert meta["channel_spec"]["net.3"] == {"type": "ConvTranspose2d", "in": 32, "out": 16}
    assert meta["masked_layers"] == []
    loaded = load_module(tmp_path, "generator").eval()
    assert channel_spec(loaded) == channel_spec(small)
    assert count_parameters(loaded) == count_parameters(small)
    with torch.no_grad():
        assert torch.equal(loaded(z), small.eval()(z))
    # and it saves again (still marked as physically pruned)
    save_module(loaded, tmp_path / "again", "generator")
    assert read_json(tmp_path / "again" / "generator.json")["channel_spec"] == meta["channel_spec"]
    # an unpruned module writes no channel_spec
    save_module(dcgan(), tmp_path / "dense", "generator")
    assert "channel_spec" not in read_json(tmp_path / "dense" / "generator.json")


def test_apply_channel_spec_keeps_layer_config() -> None:
    model = custom_model()
    spec = channel_spec(model)
    spec["conv"]["out"] = spec["bn"]["num_features"] = spec["up"]["in"] = 5
    spec["fc"]["out"] = spec["head"]["in"] = 7
    fresh = apply_channel_spec(custom_model(seed=1), spec)
    assert tuple(fresh.conv.weight.shape) == (5, 3, 3, 3) and fresh.conv.bias.shape == (5,)
    assert tuple(fresh.up.weight.shape) == (5, 12, 4, 4)  # ConvTranspose2d: (in, out, k, k)
    assert fresh.bn.running_mean.shape == (5,) and fresh.bn.eps == model.bn.eps
    assert (fresh.up.stride, fresh.up.padding) == (model.up.stride, model.up.padding)
    assert tuple(fresh.head.weight.shape) == (5, 7) and fresh.fc.bias.shape == (7,)
    assert fresh(torch.randn(1, 3, 8, 8)).shape == (1, 5)
    assert fresh.channel_spec == spec


def test_apply_channel_spec_bad_spec() -> None:
    with pytest.raises(UserError, match=r"'nope'.*does not have"):
        apply_channel_spec(custom_model(), {"nope": {"type": "Conv2d", "in": 1, "out": 1}})
    with pytest.raises(UserError, match="does not fit layer type Conv2d"):
        apply_channel_spec(custom_model(), {"conv": {"type": "Linear", "in": 3, "out": 4}})
    with pytest.raises(UserError, match="malformed"):
        apply_channel_spec(custom_model(), {"conv": {"type": "Conv2d", "in": "x"}})


def test_srgan_filter_pruning_keeps_subpixel_convs_dense_and_removes_channels_exactly() -> None:
    """PixelShuffle regroups channels in r² blocks: the convs feeding it stay dense, the rest shrink with parity."""
    from gancompress.config import DataCfg, ModelCfg, PruneCfg
    from gancompress.families import get_family
    from gancompress.pipeline import keep_output_dense

    torch.manual_seed(0)
    fam = get_family("srgan")
    model = ModelCfg(family="srgan", ngf=8, ndf=4, g_kwargs={"n_blocks": 1}, d_kwargs={"head_width": 8})
    g, d = fam.build(model, DataCfg(name="fake_sr", image_size=16))
    x = fam.make_loss(g, d).sample_input(2, torch.Generator().manual_seed(0), "cpu")
    prune = keep_output_dense(g, PruneCfg(granularity="filter", sparsity=0.5))
    assert set(prune.exclude) == {"upsample.0", "upsample.3", "tail.0"}
    masks = MaskSet.attach(g, exclude=prune.exclude, granularity="filter", example_inputs=x)
    masks.update(0.5)
    g.eval()
    small, report = remove_pruned_channels(g, x)
    assert report["removed"]["blocks.0.body.0"] == 4  # inside the residual block: half its filters
    assert count_parameters(small) < count_parameters(g)
    with torch.no_grad():
        assert float((small(*x) - g(*x)).abs().max()) <= 1e-5


def test_spectral_norm_layers_are_kept_whole_with_the_reason() -> None:
    torch.manual_seed(0)
    sn = nn.utils.parametrizations.spectral_norm
    net = nn.Sequential(sn(nn.Conv2d(3, 8, 3, padding=1)), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    net.append(nn.Conv2d(8, 3, 1))
    MaskSet.attach(net, granularity="filter", exclude=["4"]).update(0.5)
    _, report = remove_pruned_channels(net.eval(), (torch.randn(2, 3, 8, 8),))
    assert "parametrized weight" in report["skipped"]["0"] and report["removed"] == {"2": 4}
    assert report["max_abs_diff"] <= 1e-4
