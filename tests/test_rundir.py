"""gancompress.rundir: run directories refuse to mix runs, ``--overwrite`` replaces only gancompress output (also
through a symlink), step checkpoints are atomic and keep the newest two, metrics are truncated on resume, and a run's
config.json is read back or refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from gancompress.checkpoint import save_module
from gancompress.errors import CorruptCheckpointError, UserError
from gancompress.files import write_json
from gancompress.models import create_model
from gancompress.rundir import RunDir, latest_checkpoint, load_checkpoint, run_config, save_checkpoint


def test_truncate_metrics_drops_rows_after_the_checkpoint_and_cut_lines(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    for step in (5, 10, 15):
        run.log_metrics(step, {"g/loss": float(step)})
    run.close()
    with open(run.path / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 20, "g/lo')  # the line a SIGKILL cut short
    run.truncate_metrics(10)
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10]
    RunDir(tmp_path / "empty").truncate_metrics(3)  # no metrics file yet: nothing to do


# --------------------------------------------------------------------------- F7: a run config.json not an object


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "3", '{"train": [1]}'])
def test_corrupt_run_config(tmp_path: Path, content: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(UserError, match=r"corrupt run config .*config\.json"):
        run_config(tmp_path)


def test_run_config_round_trip(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model": {"ngf": 8}, "seed": 3}))
    assert run_config(tmp_path).model.ngf == 8


SPEC = {"nz": 16, "ngf": 8, "channels": 1, "image_size": 32}


def tiny() -> nn.Module:
    return create_model("dcgan_generator", **SPEC)


# ------------------------------------------------------------------------------------------- F1: run directories


def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "important.txt").write_text("keep")
    (precious / "config.json").write_text('{"user": "own config"}')  # a generic name alone is not a run
    with pytest.raises(UserError, match=r"is not a gancompress run.*will not delete it; choose another --out"):
        RunDir(precious, overwrite=True)
    assert (precious / "important.txt").read_text() == "keep" and (precious / "sub").is_dir()


@pytest.mark.parametrize(
    "marker", ["checkpoints", "cells", "config.json", "env.json", "results.json", "generator.json"]
)
def test_overwrite_replaces_a_real_run(tmp_path: Path, marker: str) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text("old\n")
    if marker in ("checkpoints", "cells"):
        (out / marker / "x").mkdir(parents=True)
    elif marker == "generator.json":
        save_module(tiny(), out, "generator")
    else:
        content = {"config.json": {"model": {}, "train": {}}, "env.json": {"gancompress": "0"}}
        write_json(out / marker, content.get(marker, {"timing": {}}))
    run = RunDir(out, overwrite=True)
    assert run.path.is_dir() and list(run.path.iterdir()) == []


def test_overwrite_through_a_symlink_clears_the_target(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "checkpoints").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    RunDir(link, overwrite=True)
    assert link.is_symlink() and list(real.iterdir()) == []


def test_out_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "out.txt"
    f.write_text("x")
    for kwargs in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(UserError, match=r"--out .*out\.txt is a file, not a directory"):
            RunDir(f, **kwargs)
    assert f.read_text() == "x"


# Recent torch warns about pickle protocols when the restricted unpickler reads a hand-made file; not our concern.
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")


# -------------------------------------------------------------------------------------------------------- RunDir


def test_rundir_refuses_existing_non_empty(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text("old\n")
    with pytest.raises(UserError, match=r"--resume.*--overwrite"):
        RunDir(out)
    assert (out / "metrics.jsonl").read_text() == "old\n"  # refusing touched nothing


def test_rundir_accepts_new_or_empty(tmp_path: Path) -> None:
    assert RunDir(tmp_path / "a" / "b").path.is_dir()
    (tmp_path / "empty").mkdir()
    assert RunDir(tmp_path / "empty").path.is_dir()


def test_rundir_overwrite_replaces(tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "checkpoints" / "step_5").mkdir(parents=True)
    (out / "metrics.jsonl").write_text("old\n")
    run = RunDir(out, overwrite=True)
    assert run.path.is_dir()
    assert list(run.path.iterdir()) == []


def test_rundir_resume_keeps_contents(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text("old\n")
    run = RunDir(out, resume=True)
    assert (run.path / "metrics.jsonl").read_text() == "old\n"
    run.log_metrics(3, {"g/loss": torch.tensor(0.5), "x": 1})
    run.close()
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert lines[0] == "old"
    assert json.loads(lines[1]) == {"step": 3, "g/loss": 0.5, "x": 1.0}


# --------------------------------------------------------------------------------------------------- checkpoints


def test_save_checkpoint_layout_keeps_newest_two(tmp_path: Path) -> None:
    for step in (8, 9, 10):  # 10 must sort after 9 numerically, not as text
        save_checkpoint(tmp_path, step, {"w": torch.full((2,), float(step))}, {"note": f"s{step}"})
    ckdir = tmp_path / "checkpoints"
    assert sorted(p.name for p in ckdir.iterdir()) == ["step_10", "step_9"]  # no .tmp_* left behind
    assert sorted(p.name for p in (ckdir / "step_10").iterdir()) == ["state.json", "state.safetensors"]
    assert latest_checkpoint(tmp_path) == ckdir / "step_10"
    tensors, meta = load_checkpoint(ckdir / "step_10")
    assert torch.equal(tensors["w"], torch.full((2,), 10.0))
    assert meta["step"] == 10 and meta["note"] == "s10" and meta["format"].startswith("gancompress/")


def test_save_checkpoint_replaces_stale_tmp_and_same_step(tmp_path: Path) -> None:
    stale = tmp_path / "checkpoints" / ".tmp_step_3"
    stale.mkdir(parents=True)
    (stale / "junk").write_text("half-written by a killed run")
    save_checkpoint(tmp_path, 3, {"w": torch.zeros(1)}, {})
    path = save_checkpoint(tmp_path, 3, {"w": torch.ones(1)}, {})
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_3"]
    assert not (path / "junk").exists()
    assert torch.equal(load_checkpoint(path)[0]["w"], torch.ones(1))


def test_latest_checkpoint_none(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    (tmp_path / "checkpoints" / ".tmp_step_4").mkdir(parents=True)
    assert latest_checkpoint(tmp_path) is None


def test_corrupt_checkpoint_state(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path, 1, {"w": torch.zeros(4)}, {})
    (path / "state.safetensors").write_bytes(b"\x00" * 5)
    with pytest.raises(CorruptCheckpointError, match=r"^corrupt checkpoint "):
        load_checkpoint(path)
