"""Sweep planning (experiments/sweeps/run.py): task selection, granularity plans without an N:M pattern, given
teachers shared by tasks.
"""

from __future__ import annotations

import logging

import pytest

from gancompress.errors import UserError
from gancompress.experiments.settings import ReproduceSettings
from gancompress.experiments.sweeps.run import plan_points
from gancompress.experiments.tasks import TASKS, get_task, select_tasks


def test_select_tasks_validates_and_keeps_registry_order() -> None:
    assert [t.name for t in select_tasks(["srgan", "dcgan", "srgan"])] == ["dcgan", "srgan"]
    with pytest.raises(UserError, match="valid tasks: dcgan"):
        select_tasks(["dcgan", "biggan"])


def test_granularity_plan_skips_sparsities_without_an_nm_pattern() -> None:
    args = ReproduceSettings(tasks="dcgan", granularities="element,nm,filter", sparsities="0.5,0.9")
    tasks, points = plan_points("granularity", args, [0])
    assert tasks == ["dcgan"]
    assert points == [["element", 0.5], ["nm:2:4", 0.5], ["filter", 0.5], ["element", 0.9], ["filter", 0.9]]
    args = ReproduceSettings(tasks=None, granularities=None, sparsities=None)
    tasks, points = plan_points("table2", args, [0])
    element = [["element", s] for s in (0.25, 0.5, 0.75, 0.9)]
    assert tasks == list(TASKS) and points == [*element, ["control", 0.0]]  # the same-budget dense control last
    assert plan_points("table2", ReproduceSettings(no_control=True), [0])[1] == element


def test_a_given_teacher_serves_every_task_sharing_it(caplog: pytest.LogCaptureFixture) -> None:
    from gancompress.experiments.sweeps.run import given_by_key

    key = get_task("cyclegan_tops_b2a").key
    assert key == get_task("cyclegan_tops_a2b").key != get_task("cyclegan_b2a").key
    # the a2b pair names the teacher a plan of only b2a uses: it is taken, not silently retrained
    with caplog.at_level(logging.WARNING, logger="gancompress.experiments.sweeps.run"):
        out = given_by_key({"cyclegan_tops_a2b": "runs/t", "dcgan": "runs/d"}, [key])
    assert out == {key: "runs/t"}
    assert "--teacher dcgan=runs/d ignored" in caplog.text
    with pytest.raises(UserError, match="two runs for the teacher shared"):
        given_by_key({"cyclegan_tops_a2b": "runs/t", "cyclegan_tops_b2a": "runs/u"}, [key])
    assert given_by_key({"cyclegan_tops_a2b": "runs/t", "cyclegan_tops_b2a": "runs/t"}, [key]) == {key: "runs/t"}


def test_structured_plan_rows_times_targets_then_the_control() -> None:
    tasks, points = plan_points("structured", ReproduceSettings(tasks="dcgan"), [0])
    assert tasks == ["dcgan"]
    rows = ["ours", "paper", "row_d", "row_c"]
    assert points == [[r, 0.25] for r in rows] + [[r, 0.1] for r in rows] + [["control", 0.0]]
    with pytest.raises(UserError, match="unknown structured rows row_z"):
        plan_points("structured", ReproduceSettings(rows="ours,row_z"), [0])
