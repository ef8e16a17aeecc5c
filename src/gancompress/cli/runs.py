"""The run directory of a command: created (or refused) on rank 0, resumed from its last checkpoint, config.json and
env.json written with the command's inputs (cli/resume.py), removed again when bad input stops it before any output.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from gancompress.cli.resume import check_unchanged, recorded_inputs, restore_inputs
from gancompress.config import RunCfg, to_dict
from gancompress.errors import UserError
from gancompress.experiments.options import resolve_config
from gancompress.files import read_json
from gancompress.rundir import RunDir, env_info, latest_checkpoint, run_config
from gancompress.training import distributed


@contextmanager
def open_run(args: argparse.Namespace, default: str) -> Iterator[tuple[RunDir, Path | None]]:
    """``with open_run(args, default) as (run, resume_from):`` — the run directory and the checkpoint to resume.

    Rank 0 creates (or refuses) the directory; under torchrun the other ranks get a view of the same path. Bad input
    found inside the block (a ``UserError``), or any error before training wrote output, leaves no run behind: a new
    run without checkpoints is removed again.
    """

    def create() -> tuple[str, bool]:
        out = args.out or (tempfile.mkdtemp(prefix="gancompress-dry-") if args.dry_run else default)
        existed = Path(out).exists()
        return str(RunDir(out, resume=args.resume, overwrite=args.overwrite).path), existed

    if args.resume:
        check_resumable(args.out or default)
    path, existed = distributed.on_main(create)
    run = RunDir(path, create=False)
    args.run_path = str(run.path)  # for the "resume with:" line of an interrupted run (cli/main.py)
    resume_from = run.latest_checkpoint() if args.resume else None
    try:
        yield run, resume_from
    except (Exception, KeyboardInterrupt) as exc:
        # a crash before training wrote anything but config.json/env.json goes too: left behind, those make a re-run
        # fail with "already exists"; a run with training output or a checkpoint stays, to inspect or resume
        fresh = isinstance(exc, UserError) or {p.name for p in run.path.glob("*")} <= {"config.json", "env.json"}
        if fresh and resume_from is None and distributed.is_main() and run.latest_checkpoint() is None:
            run.close()
            shutil.rmtree(run.path, ignore_errors=True)
            if existed:  # an empty directory the user made stays, empty
                run.path.mkdir(parents=True, exist_ok=True)
        raise


def check_resumable(out: str | None) -> None:
    """``--resume`` needs a run that reached a checkpoint; each refusal names the command that helps instead."""
    if not out or not Path(out).is_dir():
        raise UserError(f"--resume: there is no run {out} to continue; start it without --resume")
    if latest_checkpoint(out) is None:
        raise UserError(
            f"--resume: {out} never reached a checkpoint, so there is nothing to continue; start it again with "
            "--overwrite"
        )


def start_run(run: RunDir, cfg: RunCfg, resume_from: Path | None, args: argparse.Namespace | None = None) -> RunCfg:
    """Write config.json (with the command's inputs, cli/resume.py) / env.json, or on resume keep the run's own."""
    if resume_from is not None:
        return cfg
    if distributed.is_main():
        inputs = recorded_inputs(args) if args is not None else {}
        run.write_json("config.json", {**to_dict(cfg), **({"inputs": inputs} if inputs else {})})
        run.write_json("env.json", env_info(cfg.seed, cfg.device))
    return cfg


def resume_config(args: argparse.Namespace) -> RunCfg | None:
    """``--resume`` of an existing run: its saved config, its recorded inputs put back into ``args`` (so ``--out
    RUN --resume`` is enough), and a refusal of any flag that would change either (resume.py)."""
    if not args.resume:
        return None
    check_resumable(args.out)  # before anything is loaded
    if not (Path(args.out) / "config.json").is_file():
        return None
    saved = run_config(args.out)
    raw = read_json(Path(args.out) / "config.json")
    restore_inputs(args, raw.get("inputs") or {} if isinstance(raw, dict) else {})
    check_unchanged(saved, resolve_config(args, saved))
    return replace(saved, device=args.device or saved.device)


def writer(run: RunDir) -> RunDir | None:
    """The run directory on rank 0, ``None`` on the other ranks of a torchrun job (they write nothing)."""
    return run if distributed.is_main() else None
