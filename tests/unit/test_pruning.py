"""Unit tests for gancompress.pruning: granularities, importance, schedules, MaskSet (CPU, fast)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from gancompress.config import PruneCfg
from gancompress.errors import UserError
from gancompress.pruning import (
    GRANULARITIES,
    IMPORTANCES,
    NM,
    SCHEDULES,
    MaskSet,
    count_nonzero,
    count_parameters,
    make_granularity,
    num_pruned,
    ramp_steps,
    should_update,
    sparsity_at,
)


class Tiny(nn.Module):
    """Linear → ConvTranspose2d → BatchNorm → Conv2d; every input size a multiple of 4 (vector/nm-friendly)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 32)
        self.up = nn.ConvTranspose2d(8, 12, 4, stride=2, padding=1)  # weight (8, 12, 4, 4): out channel = dim 1
        self.bn = nn.BatchNorm2d(12)
        self.conv = nn.Conv2d(12, 4, 3, padding=1)  # weight (4, 12, 3, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(-1, 8, 2, 2)
        return self.conv(torch.relu(self.bn(self.up(x))))


def make_model(seed: int = 0) -> Tiny:
    torch.manual_seed(seed)
    return Tiny()


LAYERS = ("fc", "up", "conv")


def units_zero(mask: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Per unit (reduced over ``dims``): True where the whole unit is zero; asserts no unit is partially zero."""
    nonzero = mask.sum(dim=dims)
    size = math.prod(mask.shape[d] for d in dims)
    assert bool(((nonzero == 0) | (nonzero == size)).all()), "a unit is partially pruned"
    return nonzero == 0


# ------------------------------------------------------------------------------------------------ granularities
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
    assert set(GRANULARITIES.names()) == {"element", "vector", "kernel", "filter", "nm"}


def test_unknown_granularity_lists_valid_values() -> None:
    with pytest.raises(UserError, match=r"element, filter, kernel, nm, vector.*Did you mean 'filter'"):
        make_granularity("filtr")
    with pytest.raises(UserError, match="valid values"):
        MaskSet.attach(make_model(), granularity="channel")


# ------------------------------------------------------------------------------------------------ importance
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


# ------------------------------------------------------------------------------------------------ MaskSet
def test_masks_survive_adam_steps() -> None:
    model = make_model()
    masks = MaskSet.attach(model, granularity="element")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    z = torch.randn(4, 16)
    # Build up momentum densely first so pruned weights have non-zero Adam state.
    for _ in range(3):
        opt.zero_grad()
        model(z).square().mean().backward()
        opt.step()
    masks.update(0.6)
    before = {k: v.clone() for k, v in masks.masks().items()}
    for _ in range(5):
        opt.zero_grad()
        model(z).square().mean().backward()
        masks.mask_grads()
        for name, mod in masks.items():
            assert bool((mod.weight.grad[before[name] == 0] == 0).all())
        opt.step()
        masks.apply()
    for name, mod in masks.items():
        assert torch.equal(mod.weight_mask, before[name])
        assert bool((mod.weight[before[name] == 0] == 0).all())
    assert count_nonzero(model) < count_parameters(model)


def test_state_dict_round_trip_strict(tmp_path) -> None:
    model = make_model()
    MaskSet.attach(model, granularity="filter").update(0.5)
    sd = model.state_dict()
    assert {"fc.weight_mask", "up.weight_mask", "conv.weight_mask"} <= set(sd)

    fresh = make_model(seed=1)
    with pytest.raises(RuntimeError, match="weight_mask"):
        fresh.load_state_dict(sd, strict=True)
    assert sorted(MaskSet.ensure_mask_buffers(fresh, sd.keys())) == sorted(LAYERS)
    fresh.load_state_dict(sd, strict=True)
    restored = MaskSet.from_model(fresh, granularity="filter")
    assert restored.names == list(LAYERS)
    for name in LAYERS:
        assert torch.equal(getattr(fresh, name).weight_mask, getattr(model, name).weight_mask)
    assert restored.overall_sparsity() == MaskSet.from_model(model).overall_sparsity()

    # safetensors
    path = tmp_path / "g.safetensors"
    save_file(model.state_dict(), str(path))
    loaded = load_file(str(path))
    fresh2 = make_model(seed=2)
    MaskSet.ensure_mask_buffers(fresh2, loaded.keys())
    fresh2.load_state_dict(loaded, strict=True)
    z = torch.randn(2, 16)
    model.eval()
    fresh2.eval()
    assert torch.equal(model(z), fresh2(z))
    assert torch.equal(fresh2.up.weight_mask, model.up.weight_mask)


def test_mask_moves_with_model_dtype() -> None:
    model = make_model()
    MaskSet.attach(model)
    model.to(torch.float64)
    assert model.conv.weight_mask.dtype == torch.float64


def test_attach_keeps_existing_masks() -> None:
    model = make_model()
    MaskSet.attach(model).update(0.5)
    masks = MaskSet.attach(model)
    assert masks.overall_sparsity() == pytest.approx(MaskSet.from_model(model).overall_sparsity())
    assert masks.overall_sparsity() > 0.49


def test_exclusions() -> None:
    model = nn.Sequential()
    model.add_module("enc", nn.Sequential(nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3)))
    model.add_module("dec", nn.Sequential(nn.ConvTranspose2d(8, 4, 3), nn.Conv2d(4, 3, 3)))
    assert MaskSet.attach(model, exclude=("dec.1",)).names == ["enc.0", "enc.1", "dec.0"]
    fresh = nn.Sequential()
    fresh.add_module("enc", nn.Sequential(nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3)))
    fresh.add_module("dec", nn.Sequential(nn.ConvTranspose2d(8, 4, 3), nn.Conv2d(4, 3, 3)))
    assert MaskSet.attach(fresh, exclude=("dec.",)).names == ["enc.0", "enc.1"]
    assert MaskSet.attach(fresh, exclude=("enc",)).names == ["dec.0", "dec.1"]
    assert MaskSet.attach(fresh, exclude=("*.1",)).names == ["enc.0", "dec.0"]
    with pytest.raises(UserError, match=r"match no module: 'decoder'.*prunable layers: enc.0"):
        MaskSet.attach(fresh, exclude=("decoder",))
    with pytest.raises(UserError, match="nothing left"):
        MaskSet.attach(fresh, exclude=("*",))


def test_no_prunable_layers() -> None:
    with pytest.raises(UserError, match=r"no prunable layers \(Conv2d, ConvTranspose2d, Linear\)"):
        MaskSet.attach(nn.Sequential(nn.BatchNorm2d(3), nn.ReLU()))
    with pytest.raises(UserError, match="no weight_mask"):
        MaskSet.from_model(make_model())


def test_subclasses_are_targets() -> None:
    class MyConv(nn.Conv2d):
        pass

    masks = MaskSet.attach(nn.Sequential(MyConv(4, 4, 3)))
    assert masks.sparsity_report()[0]["kind"] == "MyConv"


def test_report_and_counts() -> None:
    model = make_model()
    masks = MaskSet.attach(model)
    masks.update(0.5)
    report = {r["name"]: r for r in masks.sparsity_report()}
    assert report["up"]["kind"] == "ConvTranspose2d" and report["up"]["shape"] == [8, 12, 4, 4]
    assert report["conv"]["numel"] == 4 * 12 * 9 and report["conv"]["sparsity"] == 0.5
    total = sum(r["numel"] for r in report.values())
    assert masks.overall_sparsity() == pytest.approx(1 - sum(r["nonzero"] for r in report.values()) / total)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    pruned = total - sum(r["nonzero"] for r in report.values())
    nn.init.ones_(model.bn.bias)  # BN's bias starts at 0; make every unpruned parameter non-zero
    assert count_parameters(model) - count_nonzero(model) == pruned
    with pytest.raises(UserError, match=r"\[0, 1\)"):
        masks.update(1.0)


# ------------------------------------------------------------------------------------------------ schedules
def test_agp_schedule_values() -> None:
    cfg = PruneCfg(sparsity=0.5, initial_sparsity=0.05, ramp_fraction=0.5, update_every=10)
    total = 200
    t_end = ramp_steps(cfg, total)
    assert t_end == 100
    values = [sparsity_at(cfg, t, total) for t in range(total)]
    assert values[0] == 0.05
    assert values[t_end] == 0.5 and values[-1] == 0.5
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert values[30] == pytest.approx(0.5 + (0.05 - 0.5) * (1 - 30 / 100) ** 3)
    # Final below initial: start (and stay) at the final sparsity.
    low = PruneCfg(sparsity=0.02, initial_sparsity=0.05)
    assert {sparsity_at(low, t, 50) for t in range(50)} == {0.02}


def test_agp_ramp_fraction_one_reaches_final_in_run() -> None:
    cfg = PruneCfg(sparsity=0.8, ramp_fraction=1.0)
    assert sparsity_at(cfg, 9, 10) == 0.8 and should_update(cfg, 9, 10)
    assert sparsity_at(cfg, 0, 1) == 0.8  # a 1-step run is one-shot


def test_one_shot_schedule() -> None:
    cfg = PruneCfg(sparsity=0.7, schedule="one_shot")
    assert {sparsity_at(cfg, t, 50) for t in range(50)} == {0.7}
    assert [t for t in range(50) if should_update(cfg, t, 50)] == [0]


def test_should_update_pattern() -> None:
    cfg = PruneCfg(sparsity=0.5, update_every=10, ramp_fraction=0.25)
    updates = [t for t in range(200) if should_update(cfg, t, 200)]
    assert updates == [0, 10, 20, 30, 40, 50]
    cfg = PruneCfg(sparsity=0.5, update_every=7, ramp_fraction=0.5)
    updates = [t for t in range(40) if should_update(cfg, t, 40)]
    assert updates == [0, 7, 14, 20]


def test_unknown_schedule() -> None:
    assert SCHEDULES.names() == ["agp", "one_shot"]
    with pytest.raises(UserError, match="agp, one_shot"):
        sparsity_at(PruneCfg(schedule="cosine"), 0, 10)


def test_agp_with_maskset_is_monotone_and_exact() -> None:
    cfg = PruneCfg(sparsity=0.5, update_every=5, ramp_fraction=0.5)
    model = make_model()
    masks = MaskSet.attach(model, granularity="element")
    total, seen = 40, []
    for t in range(total):
        if should_update(cfg, t, total):
            masks.update(sparsity_at(cfg, t, total))
            seen.append(masks.overall_sparsity())
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(0.5, abs=1e-3)
    for row in masks.sparsity_report():
        assert row["numel"] - row["nonzero"] == num_pruned(0.5, row["numel"])


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


# ------------------------------------------------------------------ parametrized weights (SAGAN / BigGAN generators)
@pytest.mark.parametrize("wrap", ["spectral_norm", "weight_norm"])
def test_masks_prune_the_effective_weight_of_spectral_and_weight_norm_layers(wrap: str) -> None:
    """``weight`` is recomputed from the stored original on every access: masks must zero that original, or nothing
    is pruned while the report says 50 % (probe case B1)."""
    from torch.nn.utils import parametrizations

    torch.manual_seed(0)
    p = getattr(parametrizations, wrap)
    g = nn.Sequential(p(nn.Conv2d(4, 8, 3)), nn.ReLU(), p(nn.ConvTranspose2d(8, 3, 4)))
    masks = MaskSet.attach(g)
    masks.update(0.5)
    opt = torch.optim.Adam(g.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        g(torch.randn(2, 4, 8, 8)).pow(2).mean().backward()
        masks.mask_grads()
        opt.step()
        masks.apply()
    for name, mod in masks.items():
        assert torch.equal(mod.weight == 0, mod.weight_mask == 0), name  # exactly the masked entries are zero
        assert float((mod.weight == 0).float().mean()) == pytest.approx(0.5), name


@pytest.mark.parametrize(
    ("wrap", "message"),
    [
        (lambda m: nn.utils.spectral_norm(m), "legacy torch.nn.utils.spectral_norm hook"),
        (lambda m: nn.utils.weight_norm(m), "legacy torch.nn.utils.weight_norm hook"),
        (lambda m: nn.utils.parametrizations.orthogonal(m), "only one spectral norm or one weight norm"),
    ],
)
def test_weights_masks_cannot_reach_are_refused_with_the_fix(wrap, message: str) -> None:
    import warnings

    with warnings.catch_warnings():  # the legacy helpers are deprecated
        warnings.simplefilter("ignore")
        g = nn.Sequential(wrap(nn.Conv2d(4, 4, 3)))
    with pytest.raises(UserError, match=message):
        MaskSet.attach(g)
