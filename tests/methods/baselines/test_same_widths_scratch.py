"""Row c at channel granularity (same_widths_scratch): the channel-pruned widths, trained from random weights."""

from __future__ import annotations

import pytest
import torch

import gancompress as gc
from gancompress.config import DataCfg, ModelCfg, PruneCfg
from gancompress.families import get_family
from gancompress.pruning.channel_groups import dense_layer_macs

pytest.importorskip("torch_pruning")

DATA = DataCfg(name="fake", image_size=16, limit=64)
MODEL = ModelCfg(family="dcgan", nz=8, ngf=16, ndf=8)


def test_same_widths_generator_has_the_target_macs_and_fresh_weights() -> None:
    torch.manual_seed(0)
    g, d = get_family("dcgan").build(MODEL, DATA)
    data = gc.load_dataset(DATA, "train")
    prune = PruneCfg(granularity="channel", target_macs=0.25)
    res = gc.compress(
        g, d, data, family="dcgan", method="same_widths_scratch", prune=prune,
        train=gc.TrainCfg(steps=2, batch_size=8), teacher_steps=2,
    )  # fmt: skip
    z = (torch.randn(1, 8),)
    small = res.generator
    assert small.net[0].out_channels < g.net[0].out_channels  # physically narrower, not masked
    assert not any(k.endswith("_mask") for k in small.state_dict())
    kept = sum(dense_layer_macs(small, z).values()) / sum(dense_layer_macs(g, z).values())
    assert kept == pytest.approx(0.25, abs=0.05)
    # from scratch: none of the teacher's kept filters survive
    w_small, w_teacher = small.net[0].weight.detach(), g.net[0].weight.detach()
    assert not any(torch.equal(w_small[:, j], w_teacher[:, i]) for j in range(3) for i in range(w_teacher.shape[1]))
    assert small(*z).shape == g(*z).shape
