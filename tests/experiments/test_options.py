"""experiments/options.py: a config file's [profile.<name>] table is applied when ``config_profile`` names it."""

from __future__ import annotations

import pytest

from gancompress.errors import UserError
from gancompress.experiments.options import RunOptions, resolve_config
from gancompress.experiments.tasks import CONFIGS, get_task


def test_config_profile_applies_the_file_table_before_the_flags() -> None:
    toml = str(CONFIGS / "stargan_teacher.toml")
    wide = resolve_config(RunOptions(config=toml, config_profile="wide", overrides=("model.ndf=48",)))
    assert (wide.model.ngf, wide.model.ndf, wide.train.steps) == (32, 48, get_task("stargan").steps["wide"])
    assert resolve_config(RunOptions(config=toml)).model.ngf == 8  # without it the table is ignored


def test_config_profile_without_a_config_file_is_refused() -> None:
    with pytest.raises(UserError, match=r"pass --config"):
        resolve_config(RunOptions(config_profile="wide"))
