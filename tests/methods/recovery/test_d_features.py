"""methods/recovery/d_features.py and ``method.d_feature``: the distance between D's penultimate features of G_C(x)
and G_O(x), through the fine-tuned D, without side effects on D (docs/pruning.md "Recovery after pruning")."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import gancompress as gc
from gancompress.config import MethodCfg
from gancompress.methods import create_method
from gancompress.methods.recovery import buffers_untouched, capture_last_layer_input, penultimate_distance
from tests.methods.recovery.families import family_setup

pytestmark = pytest.mark.usefixtures("one_thread")

DATA_CFG = gc.DataCfg(name="fake", image_size=16)
MODEL_CFG = gc.ModelCfg(nz=16, ngf=8, ndf=8)


def _last_layer_input_shape(d: nn.Module, images: torch.Tensor, loss: gc.GanLoss, batch: dict) -> tuple[int, ...]:
    with torch.no_grad(), capture_last_layer_input(d) as feats:
        loss.discriminator_scores(d, images, batch)
    return tuple(feats[-1].shape)


@pytest.mark.parametrize(
    ("family", "layer"),
    [("dcgan", "net.5"), ("stargan", "cls"), ("srgan", "net.25"), ("pix2pix", "net.8"), ("cyclegan", "net.8")],
)
def test_the_penultimate_feature_is_the_input_of_the_layer_that_runs_last(family: str, layer: str) -> None:
    _cfg, data, g, d, loss = family_setup(family)
    batch = {k: v[:2] if isinstance(v, torch.Tensor) else v for k, v in _batch(data).items()}
    images = g(*loss.generator_input(batch)).detach()
    seen: list[torch.Tensor] = []
    handle = d.get_submodule(layer).register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
    try:
        shape = _last_layer_input_shape(d, images, loss, batch)
    finally:
        handle.remove()
    assert seen and shape == tuple(seen[-1].shape)


def _batch(data: gc.ImageDataset) -> dict:
    from gancompress.data import InfiniteLoader

    return InfiniteLoader(data, 4, seed=0).next_batch()


def _method(g_comp: nn.Module, g_orig: nn.Module, d: nn.Module, weight: float):
    method = create_method(MethodCfg(d_feature=weight))
    method.setup(g_comp, g_orig, d, gc.get_family("dcgan").make_loss(g_orig, d))
    return method


def test_zero_at_identity_positive_otherwise_and_only_g_c_gets_gradients() -> None:
    torch.manual_seed(0)
    g, d = gc.get_family("dcgan").build(MODEL_CFG, DATA_CFG)
    real = {"real": torch.zeros(8, 1, 16, 16)}
    same = _method(copy.deepcopy(g), g, d, 1.0).generator_step(real)
    assert same["g/d_feature"].item() == 0.0 and same["loss"].item() == 0.0

    g_comp = copy.deepcopy(g).requires_grad_(True)  # (setup froze g, G_O)
    with torch.no_grad():
        g_comp.net[0].weight.mul_(0.5)
    torch.manual_seed(1)
    plain = _method(g_comp, g, copy.deepcopy(d), 0.0).generator_step(real)  # D's buffers as the run below sees them
    torch.manual_seed(1)
    out = _method(g_comp, g, d, 2.0).generator_step(real)
    assert out["g/d_feature"].item() > 0
    torch.testing.assert_close(out["loss"], plain["loss"].detach() + 2.0 * out["g/d_feature"])
    d.requires_grad_(False)  # as in the loop's G step
    out["loss"].backward()
    assert all(p.grad is None for p in g.parameters())  # G_O's side is detached
    assert g_comp.net[0].weight.grad.abs().sum() > 0


def test_d_buffers_advance_only_with_the_eq8_forward() -> None:
    torch.manual_seed(0)
    g, d = gc.get_family("dcgan").build(MODEL_CFG, DATA_CFG)
    g_comp = copy.deepcopy(g)
    with torch.no_grad():
        g_comp.net[0].weight.mul_(0.5)
    states = []
    for weight in (0.0, 1.0):
        d_copy = copy.deepcopy(d)
        torch.manual_seed(1)
        _method(g_comp, g, d_copy, weight).generator_step({"real": torch.zeros(8, 1, 16, 16)})
        states.append(d_copy.state_dict())
    assert any("running_mean" in k for k in states[0])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_buffers_untouched_allows_backward_through_an_earlier_forward() -> None:
    """An in-place restore of BatchNorm's running statistics would break the earlier forward's backward."""
    d = nn.Sequential(nn.utils.spectral_norm(nn.Conv2d(1, 4, 3)), nn.BatchNorm2d(4), nn.Conv2d(4, 1, 3)).train()
    x = torch.randn(4, 1, 8, 8, requires_grad=True)
    kept = d(x).sum()  # the graph saved BatchNorm's running statistics
    before = {k: v.clone() for k, v in d.state_dict().items()}
    with buffers_untouched(d), capture_last_layer_input(d) as feats:
        d(torch.randn(4, 1, 8, 8) * 3)
    kept.backward()
    assert x.grad is not None and feats[-1].shape == (4, 4, 6, 6)
    assert all(torch.equal(before[k], v) for k, v in d.state_dict().items())
    assert d[1].track_running_stats and d[1].running_mean is not None


def test_penultimate_distance_needs_a_feature() -> None:
    with pytest.raises(ValueError, match="no feature"):
        penultimate_distance([], [torch.zeros(1)])
