"""gancompress.pruning.schedule: AGP and one-shot sparsity targets and when masks are recomputed."""

from __future__ import annotations

import itertools

import pytest

from gancompress.config import PruneCfg
from gancompress.errors import UserError
from gancompress.pruning import (
    SCHEDULES,
    MaskSet,
    num_pruned,
    ramp_steps,
    should_update,
    sparsity_at,
)
from tests.pruning.nets import make_model

# ----------------------------------------------------------------------------------------------------- schedules


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
