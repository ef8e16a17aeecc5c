"""Table 2 tasks (tasks.py) and sweep planning: configs in step with configs/*.toml, paper ratios, N:4 patterns."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from gancompress.config import load_config, to_dict
from gancompress.errors import UserError
from gancompress.sweep import nm_for
from gancompress.sweep_run import plan_points
from gancompress.tasks import PAPER_TABLE2, TASKS, get_task, paper_ratios, select_tasks

ROOT = Path(__file__).resolve().parents[2]


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


def test_select_tasks_validates_and_keeps_registry_order() -> None:
    assert [t.name for t in select_tasks(["srgan", "dcgan", "srgan"])] == ["dcgan", "srgan"]
    with pytest.raises(UserError, match="valid tasks: dcgan"):
        select_tasks(["dcgan", "biggan"])


def test_nm_pattern_for_each_sparsity() -> None:
    assert [nm_for(s) for s in (0.25, 0.5, 0.75, 0.9)] == ["nm:3:4", "nm:2:4", "nm:1:4", None]


def test_granularity_plan_skips_sparsities_without_an_nm_pattern() -> None:
    args = argparse.Namespace(tasks="dcgan", granularities="element,nm,filter", sparsities="0.5,0.9")
    tasks, points = plan_points("granularity", args, [0])
    assert tasks == ["dcgan"]
    assert points == [["element", 0.5], ["nm:2:4", 0.5], ["filter", 0.5], ["element", 0.9], ["filter", 0.9]]
    args = argparse.Namespace(tasks=None, granularities=None, sparsities=None)
    tasks, points = plan_points("table2", args, [0])
    element = [["element", s] for s in (0.25, 0.5, 0.75, 0.9)]
    assert tasks == list(TASKS) and points == [*element, ["control", 0.0]]  # the same-budget dense control last
    args.no_control = True
    assert plan_points("table2", args, [0])[1] == element


def test_a_given_teacher_serves_every_task_sharing_it(caplog: pytest.LogCaptureFixture) -> None:
    from gancompress.sweep_run import given_by_key

    key = get_task("cyclegan_tops_b2a").key
    assert key == get_task("cyclegan_tops_a2b").key != get_task("cyclegan_b2a").key
    # the a2b pair names the teacher a plan of only b2a uses: it is taken, not silently retrained
    with caplog.at_level(logging.WARNING, logger="gancompress.sweep_run"):
        out = given_by_key({"cyclegan_tops_a2b": "runs/t", "dcgan": "runs/d"}, [key])
    assert out == {key: "runs/t"}
    assert "--teacher dcgan=runs/d ignored" in caplog.text
    with pytest.raises(UserError, match="two runs for the teacher shared"):
        given_by_key({"cyclegan_tops_a2b": "runs/t", "cyclegan_tops_b2a": "runs/u"}, [key])
    assert given_by_key({"cyclegan_tops_a2b": "runs/t", "cyclegan_tops_b2a": "runs/t"}, [key]) == {key: "runs/t"}
