"""experiments/table1/config.py: the wide profile takes each family's task config (widths, length) for the teacher."""

from __future__ import annotations

import pytest

from gancompress.experiments.options import RunOptions
from gancompress.experiments.settings import ReproduceSettings
from gancompress.experiments.table1.config import table1_config
from gancompress.experiments.tasks import task_for_family


@pytest.mark.parametrize("family", [None, "pix2pix"])
def test_the_wide_profile_trains_the_family_task_wide_teacher(family: str | None) -> None:
    cfg, profile = table1_config(ReproduceSettings(profile="wide", run=RunOptions(family=family)))
    task = task_for_family(family or "dcgan")
    assert (cfg.model.ngf, cfg.model.ndf) == (32, task.run_config("wide").model.ndf)
    assert cfg.train.steps == profile["teacher_steps"] == task.steps["wide"]
    assert cfg.data.val_fraction == 0.1 and profile["name"] == "wide" and profile["budget_fractions"] == [0.1, 0.2]
