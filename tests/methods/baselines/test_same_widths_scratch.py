"""Row c at channel granularity (same_widths_scratch): the channel-pruned widths, trained from random weights."""

from __future__ import annotations

import json

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


def test_target_speedup_searches_a_ratio_and_reports_the_final_measurement(monkeypatch, tmp_path) -> None:
    """The wiring of prune.target_speedup: the searched ratio is the one trained, the final model is timed (the
    timings themselves: tests/export/test_speed_target.py with fake timers, and benchmarks/)."""
    import gancompress.api as api
    from gancompress.export.speed_target import RatioSearch

    seen = {}

    def fake_search(g_orig, prune, example):
        seen["prune"] = prune
        return RatioSearch(0.5, prune.target_speedup, 2.1, 1.9, 0.27, 0.01, 0.005, 3, 1, True)

    def fake_measure(dense, small, example, **how):
        seen["how"], seen["small"] = how, small
        return {"dense_ms": 2.0, "ms": 1.0, "speedup": 2.0}

    monkeypatch.setattr(api, "speed_search", fake_search)
    monkeypatch.setattr(api, "measured_speedup", fake_measure)
    torch.manual_seed(0)
    g, d = get_family("dcgan").build(MODEL, DATA)
    prune = PruneCfg(granularity="channel", target_speedup=2.0, speed_backend="eager", speed_batch=4)
    from gancompress.rundir import RunDir

    run = RunDir(tmp_path / "run")
    res = gc.compress(
        g, d, gc.load_dataset(DATA, "train"), family="dcgan", prune=prune,
        train=gc.TrainCfg(steps=2, batch_size=8), teacher_steps=10, run=run,
    )  # fmt: skip
    assert json.loads((run.path / "speed_search.json").read_text())["ratio"] == 0.5  # --resume reuses it
    assert seen["prune"].exclude  # the output layer is excluded before the search
    assert res.masks.channel_ratio() == pytest.approx(0.5, abs=0.07)  # trained at the searched ratio
    assert seen["how"] == {"backend": "eager", "threads": 1, "batch": 4}
    assert seen["small"].net[0].out_channels < g.net[0].out_channels  # the shrunk model is what is timed
    assert res.summary()["measured_speedup"] == 2.0 and res.speed["search"]["ratio"] == 0.5


def test_speed_targets_are_validated() -> None:
    from gancompress.errors import UserError

    with pytest.raises(UserError, match="channel granularity"):
        PruneCfg(target_speedup=2.0)
    with pytest.raises(UserError, match="not both"):
        PruneCfg(granularity="channel", target_speedup=2.0, target_macs=0.5)
    with pytest.raises(UserError, match="speed_backend"):
        PruneCfg(granularity="channel", target_speedup=2.0, speed_backend="tvm")
    with pytest.raises(UserError, match="target_speedup"):
        PruneCfg(granularity="channel", target_speedup=0.5)
