"""gancompress.pruning.masks: ``MaskSet`` masks survive optimizer steps, save / load, dtype moves; exclusions, reports,
and parametrized weights (spectral / weight norm).
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from gancompress.errors import UserError
from gancompress.pruning import (
    MaskSet,
    count_nonzero,
    count_parameters,
)
from tests.pruning.nets import LAYERS, make_model

# ------------------------------------------------------------------------------------------------------- MaskSet


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


# -------------------------------------------------------------- parametrized weights (SAGAN / BigGAN generators)


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
