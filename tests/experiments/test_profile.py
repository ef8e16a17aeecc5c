"""experiments/profile.py: one Profile dataclass; every experiment's quick / full instances and what they record."""

from __future__ import annotations

import dataclasses

import pytest

from gancompress.config import PROFILE_NAMES
from gancompress.errors import UserError
from gancompress.experiments import demo
from gancompress.experiments.profile import Profile, pick
from gancompress.experiments.sweeps import sweep
from gancompress.experiments.table1 import config as table1
from gancompress.experiments.tasks import get_task


def test_each_experiment_records_the_same_profile_as_before() -> None:
    # the dicts the experiments wrote before the Profile dataclass (config.json / results.json "profile")
    assert {n: demo.PROFILES[n].record(*demo.PROFILE_KEYS) for n in PROFILE_NAMES} == {
        "full": {"teacher_steps": 3000, "budget_fraction": 0.2, "num_samples": 2000, "limit": None},
        "quick": {"teacher_steps": 600, "budget_fraction": 0.2, "num_samples": 1000, "limit": 12000},
        "wide": {"teacher_steps": get_task("dcgan").steps["wide"], "budget_fraction": 0.2, "num_samples": 2000,
                 "limit": None},
    }  # fmt: skip
    assert {n: table1.PROFILES[n].record(*table1.PROFILE_KEYS) for n in PROFILE_NAMES} == {
        "quick": {"name": "quick", "teacher_steps": 600, "budget_fractions": (0.1, 0.2), "num_samples": 1000,
                  "limit": 12000, "seeds": 1},
        "full": {"name": "full", "teacher_steps": 3000, "budget_fractions": (0.1, 0.2), "num_samples": 2000,
                 "limit": None, "seeds": 3},
        "wide": {"name": "wide", "teacher_steps": None, "budget_fractions": (0.1, 0.2), "num_samples": 2000,
                 "limit": None, "seeds": 3},
    }  # fmt: skip
    assert {n: sweep.PROFILES[n].record(*sweep.PROFILE_KEYS) for n in PROFILE_NAMES} == {
        "quick": {"name": "quick", "budget_fraction": 0.2, "num_samples": 1000, "seeds": 1},
        "full": {"name": "full", "budget_fraction": 0.5, "num_samples": 2000, "seeds": 1},
        "wide": {"name": "wide", "budget_fraction": 0.5, "num_samples": 2000, "seeds": 1},
    }
    assert list(demo.PROFILES["full"].record(*demo.PROFILE_KEYS)) == list(demo.PROFILE_KEYS)  # key order kept


def test_profile_is_frozen_and_checked() -> None:
    p = table1.PROFILES["quick"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.seeds = 5  # type: ignore[misc]
    with pytest.raises(UserError, match="unknown profile 'medium'"):
        Profile("medium", budget_fractions=(0.1,), num_samples=10)
    with pytest.raises(UserError, match=r"\(0, 1\]"):
        Profile("quick", budget_fractions=(1.5,), num_samples=10)
    with pytest.raises(UserError, match="valid: quick, full, wide"):
        pick(table1.PROFILES, "medium")
    with pytest.raises(KeyError):
        p.record("nope")
