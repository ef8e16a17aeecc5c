"""Run directories of the commands (cli/runs.py): a crash before any training output leaves no run behind; one after
it keeps the run, to inspect or resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gancompress.cli import runs
from gancompress.config import RunCfg

# ------------------------------------------------------------------------------ F10/F11: model, data, eval sizes


def _namespace(out: Path) -> argparse.Namespace:
    return argparse.Namespace(out=str(out), dry_run=False, resume=False, overwrite=False)


def test_crash_before_training_output_leaves_no_run(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with pytest.raises(RuntimeError), runs.open_run(_namespace(out), "unused") as (run, _):
        runs.start_run(run, RunCfg(), None)  # config.json + env.json, then e.g. a oneDNN error
        raise RuntimeError("boom")
    assert not out.exists()  # a re-run does not say "already exists"

    made = tmp_path / "made"  # a directory the user made: emptied again, not removed
    made.mkdir()
    with pytest.raises(RuntimeError), runs.open_run(_namespace(made), "unused") as (run, _):
        runs.start_run(run, RunCfg(), None)
        raise RuntimeError("boom")
    assert made.is_dir() and not any(made.iterdir())


def test_crash_after_training_output_keeps_the_run(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with pytest.raises(RuntimeError), runs.open_run(_namespace(out), "unused") as (run, _):
        runs.start_run(run, RunCfg(), None)
        run.log_metrics(1, {"loss": 1.0})  # training has written output: kept for inspection
        run.close()
        raise RuntimeError("boom")
    assert (out / "metrics.jsonl").is_file() and (out / "config.json").is_file()
