"""Table 2 tasks (experiments/tasks.py): configs in step with configs/*.toml, real paper rows, paper ratios."""

from __future__ import annotations

import pytest

from gancompress.config import load_config, to_dict
from gancompress.experiments.tasks import PAPER_TABLE2, TASKS, get_task, paper_ratios
from tests.clirun import ROOT


@pytest.mark.parametrize("name", ["pix2pix", "stargan", "srgan", "cyclegan_a2b"])
def test_task_config_matches_the_teacher_toml(name: str) -> None:
    """The reproduce commands and the documented `gancompress train --config configs/<family>_teacher.toml` train the
    same teacher (data, widths, optimiser, full-profile length)."""
    task = get_task(name)
    toml = ROOT / "configs" / f"{task.config['model']['family']}_teacher.toml"
    if not toml.is_file():
        pytest.skip(f"{toml.name} not present")
    ours, theirs = to_dict(task.run_config("full")), to_dict(load_config(toml))
    for section in ("data", "model"):
        assert ours[section] == theirs[section], section
    for key in ("steps", "batch_size", "lr_g", "lr_d", "beta1", "beta2"):
        assert ours["train"][key] == theirs["train"][key], key


def test_every_task_resolves_and_names_real_paper_rows() -> None:
    for task in TASKS.values():
        for profile in ("quick", "full"):
            cfg = task.run_config(profile)
            assert cfg.train.steps == task.steps[profile] and cfg.model.family == task.config["model"]["family"]
        assert task.run_config("quick", dry_run=True).data.name.startswith("fake")
        assert all(row in PAPER_TABLE2 for row in task.paper)


def test_paper_ratios_are_the_table2_rows_divided_by_their_dense_fid() -> None:
    ratios = paper_ratios("pix2pix")
    assert ratios[0.0] == [1.0, 1.0]
    assert ratios[0.9] == [pytest.approx(24.892 / 17.636), pytest.approx(38.936 / 30.826)]
