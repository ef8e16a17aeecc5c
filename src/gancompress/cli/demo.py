"""``gancompress demo`` (what ``make demo`` runs): teacher → prune 50 % three ways → evaluate → report."""

from __future__ import annotations

import argparse

from gancompress.cli.flags import common_flags, data_flags
from gancompress.config import PROFILE_NAMES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="teacher → prune 50 %% three ways → evaluate → report (what `make demo` runs)")
    p.set_defaults(func=run)
    common_flags(p)
    data_flags(p)
    p.add_argument("--teacher-steps", type=int, help="teacher training steps (default: profile)")
    p.add_argument(
        "--profile", choices=[*PROFILE_NAMES, "default"], default="full",
        help="full (default, ~10 min: a 3,000-step teacher), quick (~3 min) or wide (the 12,000-step converged "
        "DCGAN teacher, ~40 min); 'default' is the old name of full",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    # the library is imported here, not at the top: building the parser (`gancompress --help`) must not import torch
    from gancompress.cli.flags import emit, settings
    from gancompress.experiments.demo import run_demo
    from gancompress.experiments.settings import DemoSettings
    from gancompress.report.render import format_table

    results, md, html = run_demo(settings(DemoSettings, args))
    table = format_table(
        [{"model": m["name"], **m["metrics"]} for m in results["models"]],
        ["model", "fid", "kid", "class_coverage", "fidelity_psnr", "sparsity", "mac_fraction", "cpu_speedup"],
    )
    emit(args, results, f"{table}\n\n" + "\n".join(results.get("summary", [])) + f"\n\nreport: {md}\n        {html}")
    return 0
