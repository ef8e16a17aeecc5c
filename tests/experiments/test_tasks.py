"""Table 2 tasks (experiments/tasks.py): configs read from configs/*.toml, real paper rows, paper ratios."""

from __future__ import annotations

import pytest

from gancompress.config import load_config, to_dict
from gancompress.errors import UserError
from gancompress.experiments.tasks import (
    CONFIGS,
    PAPER_TABLE2,
    TASKS,
    TRAIN_KEYS,
    get_task,
    paper_ratios,
    task_for_family,
    teacher_steps,
)
from tests.clirun import ROOT


@pytest.mark.parametrize("profile", ["full", "wide"])
@pytest.mark.parametrize("name", ["dcgan", "pix2pix", "stargan", "srgan", "cyclegan_a2b"])
def test_task_config_is_read_from_the_teacher_toml(name: str, profile: str) -> None:
    """The reproduce commands and the documented `gancompress train --config configs/<family>_teacher.toml
    [--profile wide]` train the same teacher (data, widths, optimiser, samples per score, length): the task reads
    the file."""
    task = get_task(name)
    toml = CONFIGS / f"{task.config['model']['family']}_teacher.toml"
    theirs = to_dict(load_config(toml, profile=None if profile == "full" else profile))
    ours = to_dict(task.run_config(profile))
    for section in ("data", "model", "eval"):
        assert ours[section] == theirs[section], section
    for key in ("steps", *TRAIN_KEYS):
        assert ours["train"][key] == theirs["train"][key], key


def test_the_repository_configs_are_the_package_data() -> None:
    """One copy: ``configs/`` (what users pass to --config) is the package's ``experiments/configs/``."""
    repo = ROOT / "configs"
    assert repo.resolve() == CONFIGS.resolve()
    assert sorted(p.name for p in CONFIGS.glob("*.toml")) == [
        "cyclegan_teacher.toml", "dcgan_teacher.toml", "pix2pix_teacher.toml", "srgan_teacher.toml",
        "stargan_teacher.toml",
    ]  # fmt: skip


@pytest.mark.parametrize("family", ["dcgan", "pix2pix", "cyclegan", "stargan", "srgan"])
def test_the_wide_profile_resolves_for_every_family(family: str) -> None:
    """docs/reproduce.md "Wide teachers": ngf 32 and D at least as wide as before; only widths and length change."""
    task = task_for_family(family)
    full, wide = task.run_config("full"), task.run_config("wide")
    assert wide.model.ngf == 32 and wide.model.ndf >= full.model.ndf
    assert wide.train.steps == task.steps["wide"] == teacher_steps(family, "wide") > full.train.steps
    assert (wide.data, wide.eval, wide.model.g_kwargs, wide.model.family) == (
        full.data, full.eval, full.model.g_kwargs, full.model.family,
    )  # fmt: skip
    assert {k: getattr(wide.train, k) for k in TRAIN_KEYS} == {k: getattr(full.train, k) for k in TRAIN_KEYS}


def test_a_profile_a_task_lacks_is_refused() -> None:
    with pytest.raises(UserError, match="no 'huge' profile"):
        get_task("dcgan").run_config("huge")


def test_cyclegan_tasks_change_only_their_pair_and_direction() -> None:
    a2b, tops = get_task("cyclegan_a2b").run_config("full"), get_task("cyclegan_tops_b2a").run_config("full")
    assert list(a2b.data.classes) == [7, 9] and a2b.data.direction == "a2b"
    assert list(tops.data.classes) == [0, 6] and tops.data.direction == "b2a"
    assert (a2b.model, a2b.train) == (tops.model, tops.train)


def test_every_task_resolves_and_names_real_paper_rows() -> None:
    for task in TASKS.values():
        for profile in ("quick", "full", "wide"):
            cfg = task.run_config(profile)
            assert cfg.train.steps == task.steps[profile] and cfg.model.family == task.config["model"]["family"]
        assert task.run_config("quick", dry_run=True).data.name.startswith("fake")
        assert all(row in PAPER_TABLE2 for row in task.paper)


def test_paper_ratios_are_the_table2_rows_divided_by_their_dense_fid() -> None:
    ratios = paper_ratios("pix2pix")
    assert ratios[0.0] == [1.0, 1.0]
    assert ratios[0.9] == [pytest.approx(24.892 / 17.636), pytest.approx(38.936 / 30.826)]
