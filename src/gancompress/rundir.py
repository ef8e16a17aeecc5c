"""Run directories: the one output folder of every command, its checkpoints, and the env.json written into it.

``--overwrite`` replaces only a directory gancompress wrote (:func:`is_run_dir`); a checkpoint is
``checkpoints/step_N/state.safetensors`` + ``state.json``, written to a temporary name and renamed (atomic).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from gancompress.config import RunCfg, from_dict
from gancompress.errors import UserError
from gancompress.files import FORMAT, load_tensors, read_json, save_tensors, write_json
from gancompress.version import __version__

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------- run dirs
# What marks a directory as gancompress output, so --overwrite may delete it. Directories only gancompress creates
# count as they are; the JSON files have generic names (a user's project may well hold its own config.json or
# results.json), so each counts only with the keys our writers put in it (cli/, experiments/demo.py, table1/run.py,
# sweeps/ write config.json and env.json, sweeps results.json, save_module generator.json).
RUN_MARKER_DIRS = ("checkpoints", "cells")
RUN_MARKER_JSON: dict[str, Callable[[dict[str, Any]], bool]] = {
    "config.json": lambda d: "model" in d and "train" in d,  # to_dict(RunCfg)
    "env.json": lambda d: "gancompress" in d,  # env_info()
    "results.json": lambda d: "timing" in d,  # sweep / table1 results
    "generator.json": lambda d: str(d.get("format", "")).startswith("gancompress/"),  # save_module()
}


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` holds output written by gancompress (:data:`RUN_MARKER_DIRS` / :data:`RUN_MARKER_JSON`)."""
    path = Path(path)
    if any((path / d).is_dir() for d in RUN_MARKER_DIRS):
        return True
    for name, looks_ours in RUN_MARKER_JSON.items():
        try:
            data = read_json(path / name)
        except UserError:  # absent, unreadable or not JSON: not a marker
            continue
        if isinstance(data, dict) and looks_ours(data):
            return True
    return False


def _clear_directory(path: Path) -> None:
    """Delete everything inside ``path`` but keep ``path`` itself (it may be a symlink, which rmtree refuses)."""
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


class RunDir:
    """One command's output directory (docs/architecture.md "Run directory").

    Refuses an existing non-empty directory unless ``resume`` (continue it) or ``overwrite`` (replace it; the message
    offers only that for commands that cannot resume, ``resumable=False``); overwrite
    only replaces a directory gancompress wrote (:func:`is_run_dir`), never a user's folder that happens to be named.
    Only the writer process (rank 0) should create one.
    """

    def __init__(
        self, path: str | Path, *, resume: bool = False, overwrite: bool = False, create: bool = True,
        resumable: bool = True,
    ) -> None:  # fmt: skip
        self.path = Path(path)
        if create:
            if self.path.exists() and not self.path.is_dir():
                raise UserError(f"--out {self.path} is a file, not a directory; choose a directory path for --out")
            try:
                exists = self.path.is_dir() and any(self.path.iterdir())
                if exists and not (resume or overwrite):
                    hint = "pass --resume to continue that run or --overwrite" if resumable else "pass --overwrite"
                    raise UserError(
                        f"output directory {self.path} already exists; {hint} to replace it (refusing to mix runs)"
                    )
                if exists and overwrite and not resume:
                    if not is_run_dir(self.path):
                        raise UserError(
                            f"--out {self.path} is not a gancompress run (it has none of "
                            f"{', '.join([*RUN_MARKER_JSON, *(d + '/' for d in RUN_MARKER_DIRS)])} written by "
                            "gancompress), so --overwrite will not delete it; choose another --out"
                        )
                    _clear_directory(self.path)
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # no permission, a parent that is a file, ...
                raise UserError(f"cannot use output directory {self.path}: {exc.strerror or exc}") from None
        self._tb: Any = None

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    def write_json(self, name: str, obj: Any) -> Path:
        return write_json(self.path / name, obj)

    def log_metrics(self, step: int, scalars: Mapping[str, float]) -> None:
        """Append one line to metrics.jsonl and the same scalars to TensorBoard."""
        row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
        with open(self.path / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.path / "tb"))
            except ImportError:  # tensorboard is a declared dependency; degrade rather than die mid-run
                log.warning("tensorboard not importable; metrics go to metrics.jsonl only")
                self._tb = False
        if self._tb:
            for k, v in scalars.items():
                self._tb.add_scalar(k, float(v), int(step))

    def truncate_metrics(self, step: int) -> None:
        """Drop ``metrics.jsonl`` rows after ``step`` (a resumed run logs them again from its checkpoint)."""
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return
        keep = []
        for line in path.read_text().splitlines():
            try:
                if int(json.loads(line)["step"]) <= step:
                    keep.append(line)
            except (ValueError, KeyError, TypeError):  # a line cut by a kill mid-write
                continue
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        os.replace(tmp, path)

    def close(self) -> None:
        if self._tb:
            self._tb.flush()
            self._tb.close()
        self._tb = None

    def latest_checkpoint(self) -> Path | None:
        return latest_checkpoint(self.path)


def latest_checkpoint(run_path: str | Path) -> Path | None:
    ckdir = Path(run_path) / "checkpoints"
    steps = sorted((int(p.name.split("_")[1]), p) for p in ckdir.glob("step_*") if p.name.split("_")[1].isdigit())
    return steps[-1][1] if steps else None


def save_checkpoint(
    run_path: str | Path, step: int, tensors: Mapping[str, torch.Tensor], meta: dict[str, Any], keep: int = 2
) -> Path:
    """Write ``checkpoints/step_<step>/`` atomically (tmp dir then rename); keep the newest ``keep``."""
    ckdir = Path(run_path) / "checkpoints"
    final = ckdir / f"step_{step}"
    tmp = ckdir / f".tmp_step_{step}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_tensors(tensors, tmp / "state.safetensors")
    write_json(tmp / "state.json", {"format": FORMAT, "step": step, **meta})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    old = sorted((int(p.name.split("_")[1]), p) for p in ckdir.glob("step_*") if p.name.split("_")[1].isdigit())
    for _, p in old[:-keep]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(path)
    return load_tensors(path / "state.safetensors"), read_json(path / "state.json")


# --------------------------------------------------------------------------------------------------------- env
def env_info(seed: int, device: str) -> dict[str, Any]:
    """Versions, git SHA, seed, device and threads: written as env.json into every run."""
    sha = None
    try:
        root = Path(__file__).resolve().parents[2]
        sha = (
            subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        pass
    import numpy

    # the process group's size, as training.distributed.world_size() reports it (1 without one)
    world_size = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    return {
        "gancompress": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "git_sha": sha,
        "seed": seed,
        "device": device,
        "threads": torch.get_num_threads(),
        "world_size": world_size,
        "argv": sys.argv,
    }


def run_config(path: str | Path) -> RunCfg:
    """The resolved config a run directory was made with (``config.json``; extra keys such as ``inputs`` ignored)."""
    file = Path(path) / "config.json"
    if file.is_dir():
        raise UserError(f"corrupt run config {file}: a directory, not a JSON file")
    data = read_json(file)
    if not isinstance(data, dict):  # a list or string would fail as an AttributeError on .items()
        raise UserError(f"corrupt run config {file}: expected a JSON object, got {type(data).__name__}")
    try:
        return from_dict(RunCfg, {k: v for k, v in data.items() if k in RunCfg.__dataclass_fields__})
    except UserError as exc:
        raise UserError(f"corrupt run config {file}: {exc}") from None
