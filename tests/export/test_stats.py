"""gancompress.export.stats: MACs (single layers, a DCGAN by hand), effective MACs of masked layers, sizes, filter
structure.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.export.stats import (
    count_macs,
    effective_macs,
    is_filter_structured,
    layer_macs,
    model_size_bytes,
    model_stats,
)
from gancompress.models import create_model
from gancompress.pruning import MaskSet


def tiny_generator() -> nn.Module:
    torch.manual_seed(0)
    return create_model("dcgan_generator", nz=16, ngf=8, channels=1, image_size=32).eval()


# ---------------------------------------------------------------------------------------------------------- MACs


@pytest.mark.parametrize(
    ("layer", "shape", "expected"),
    [
        # Conv2d: output elements × in/groups × kH × kW
        (nn.Conv2d(3, 8, 3, padding=1), (2, 3, 5, 5), 2 * 8 * 5 * 5 * 3 * 9),
        (nn.Conv2d(3, 8, 3, stride=2), (1, 3, 7, 7), 8 * 3 * 3 * 3 * 9),
        (nn.Conv2d(4, 8, (3, 1), groups=2), (1, 4, 6, 6), 8 * 4 * 6 * 2 * 3),
        # ConvTranspose2d: input elements × out/groups × kH × kW
        (nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1), (1, 4, 5, 5), 4 * 25 * 6 * 16),
        (nn.ConvTranspose2d(16, 32, 4, 1, 0, bias=False), (3, 16, 1, 1), 3 * 16 * 32 * 16),
        (nn.ConvTranspose2d(4, 6, 3, groups=2), (1, 4, 3, 3), 4 * 9 * 3 * 9),
        # Linear: output elements × in_features (leading dims included)
        (nn.Linear(10, 7), (3, 10), 3 * 7 * 10),
        (nn.Linear(10, 7, bias=False), (2, 5, 10), 2 * 5 * 7 * 10),
    ],
)
def test_count_macs_single_layers(layer: nn.Module, shape: tuple[int, ...], expected: int) -> None:
    assert count_macs(layer, (torch.randn(shape),)) == expected


def test_count_macs_dcgan_generator_by_hand() -> None:
    g = tiny_generator()  # widths 16 → 32 → 16 → 8 → 1 on 1 → 4 → 8 → 16 → 32 px, kernel 4×4
    per_sample = 16 * 1 * 32 * 16 + 32 * 16 * 16 * 16 + 16 * 64 * 8 * 16 + 8 * 256 * 1 * 16
    assert count_macs(g, (torch.randn(1, 16),)) == per_sample == 303104
    assert count_macs(g, (torch.randn(5, 16),)) == 5 * per_sample
    assert [r["name"] for r in layer_macs(g, (torch.randn(1, 16),))] == ["net.0", "net.3", "net.6", "net.9"]


def test_count_macs_restores_training_mode_and_removes_hooks() -> None:
    g = tiny_generator().train()
    count_macs(g, (torch.randn(1, 16),))  # BatchNorm at batch 1 needs eval mode inside
    assert all(m.training for m in g.modules())
    assert not any(m._forward_hooks for m in g.modules())


def test_effective_macs_with_half_masked_layer() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    x = (torch.randn(1, 2, 6, 6),)
    macs0, macs2 = 4 * 36 * 2 * 9, 4 * 36 * 4 * 9
    assert count_macs(net, x) == macs0 + macs2
    assert effective_macs(net, x) == macs0 + macs2  # dense weights: nothing to skip
    MaskSet.attach(net, exclude=("2",), granularity="element").update(0.5)
    assert effective_macs(net, x) == macs0 // 2 + macs2
    assert count_macs(net, x) == macs0 + macs2  # dense MACs do not change with masks


def test_effective_macs_reads_the_mask_even_if_weights_are_not_zeroed() -> None:
    lin = nn.Linear(4, 4, bias=False)
    mask = torch.ones(4, 4)
    mask[:, :3] = 0
    lin.register_buffer("weight_mask", mask)
    assert effective_macs(lin, (torch.randn(2, 4),)) == 2 * 4 * 4 // 4


def test_model_size_and_stats() -> None:
    g = tiny_generator()
    raw = sum(t.numel() * t.element_size() for t in g.state_dict().values())
    assert raw <= model_size_bytes(g) <= raw + 8192  # tensors + safetensors header
    stats = model_stats(g, (torch.randn(1, 16),))
    assert set(stats) == {"params", "nonzero", "macs", "effective_macs", "size_bytes"}
    assert stats["macs"] == 303104 and stats["params"] == sum(p.numel() for p in g.parameters())
    MaskSet.attach(g, granularity="element").update(0.5)
    masked = model_stats(g, (torch.randn(1, 16),))
    assert masked["params"] == stats["params"] and masked["nonzero"] < stats["nonzero"]
    assert masked["effective_macs"] == pytest.approx(stats["macs"] / 2, rel=1e-6)
    # the saved artifact: 50 % element-sparse weights packed (bits + kept values), no larger than the dense file
    assert masked["size_bytes"] < 0.6 * stats["size_bytes"]


def test_is_filter_structured() -> None:
    g = tiny_generator()
    assert not is_filter_structured(g)  # no masks
    MaskSet.attach(g, granularity="element").update(0.5)
    assert not is_filter_structured(g)
    pytest.importorskip("torch_pruning")  # filter masks trace coupled norms (pruning/physical.py)
    g = tiny_generator()
    MaskSet.attach(g, granularity="filter", exclude=("net.9",)).update(0.5)
    assert is_filter_structured(g)
