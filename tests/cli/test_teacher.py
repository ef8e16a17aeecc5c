"""Where a command's GAN comes from (cli/teacher.py): a ``--teacher`` without config.json needs ``--data``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gancompress.cli import teacher as cli_teacher
from gancompress.config import RunCfg
from gancompress.errors import UserError

# ----------------------------------------------------------------------------- F8: a teacher without config.json


def _teacher_args(teacher: Path, **kw) -> argparse.Namespace:
    base = {"teacher": str(teacher), "model": None, "data": None, "data_dir": None, "config": None, "dry_run": False}
    return argparse.Namespace(**{**base, **kw})


def test_teacher_without_config_needs_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match=r"has no config\.json, so its dataset and family are unknown; pass --data"):
        cli_teacher.load_teacher_any(_teacher_args(tmp_path))
    (tmp_path / "config.json").mkdir()
    with pytest.raises(UserError, match=r"config\.json: a directory, not a JSON file"):
        cli_teacher.load_teacher_any(_teacher_args(tmp_path))

    monkeypatch.setattr(cli_teacher, "load_gan", lambda *a, **k: ("g", "d"))
    monkeypatch.setattr(cli_teacher, "gan_info", lambda path: {"steps": 7})
    (tmp_path / "config.json").rmdir()
    _, _, base, steps, _ = cli_teacher.load_teacher_any(_teacher_args(tmp_path, data="fake"))  # --data: fine
    assert steps == 7 and base == RunCfg()
