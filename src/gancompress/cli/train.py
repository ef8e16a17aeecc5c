"""``gancompress train``: train a dense teacher GAN (Table 1 row a)."""

from __future__ import annotations

import argparse

from gancompress.cli.flags import common_flags, data_flags
from gancompress.config import PROFILE_NAMES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a dense teacher GAN (Table 1 row a)")
    p.set_defaults(func=run)
    common_flags(p)
    data_flags(p)
    p.add_argument("--family", help="GAN family (dcgan)")
    p.add_argument("--steps", type=int, help="training steps")
    p.add_argument("--batch-size", type=int)
    p.add_argument(
        "--profile", dest="config_profile", choices=list(PROFILE_NAMES),
        help="also apply the --config file's [profile.NAME] table, e.g. --profile wide (docs/config.md 'Profiles')",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    # the library is imported here, not at the top: building the parser (`gancompress --help`) must not import torch
    from dataclasses import replace

    from gancompress.api import train_teacher
    from gancompress.cli.flags import emit
    from gancompress.cli.runs import open_run, resume_config, start_run, writer
    from gancompress.data import load_dataset
    from gancompress.experiments.options import resolve_config
    from gancompress.training import distributed

    cfg = resume_config(args) or resolve_config(args)  # a resumed run keeps its own config
    with distributed.session(cfg.device) as device:  # torchrun: one process group for the job
        data = load_dataset(cfg.data, "train")  # bad data fails before the run directory is created
        with open_run(args, "runs/teacher") as (run, resume_from):
            cfg = start_run(run, cfg, resume_from, args)
            _, _, result = train_teacher(replace(cfg, device=device), data, run=writer(run), resume_from=resume_from)
        if not distributed.is_main():
            return 0
    run.close()
    summary = {
        "run": str(run.path),
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "last": result.history[-1] if result.history else {},
    }
    emit(args, summary, f"teacher trained for {result.steps} steps in {result.seconds:.1f} s → {run.path}")
    return 0
