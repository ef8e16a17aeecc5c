"""``gancompress reproduce table1|table2|granularity``: the paper's tables → results.json → report.

Example:
    $ gancompress reproduce table1 --family dcgan --sparsity 0.5 --profile full --out runs/table1   # ≈ 2–3 h
    $ gancompress reproduce table1 --profile quick --methods dense,self_supervised --variants sample,anchor1
    $ gancompress reproduce table1 --out runs/table1 --resume        # after a crash: finished cells are skipped
    $ gancompress report runs/table1                                  # re-render from results.json
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gancompress.cli.flags import common_flags, data_flags, emit, settings
from gancompress.config import PROFILE_NAMES
from gancompress.report.render import format_table

if TYPE_CHECKING:  # the library is imported in run(): building the parser must not import torch
    from gancompress.experiments.settings import ReproduceSettings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce the paper's Table 1: every baseline row × seeds, one evaluator, report",
        description="Train (or take) one teacher, run every Table 1 row (docs/method.md §4) for each seed "
        "through the same loop, score all with one evaluator, write results.json after every cell and a report.",
    )
    p.set_defaults(func=run)
    p.add_argument(
        "table",
        choices=["table1", "table2", "granularity", "structured"],
        help="table1: the baselines at one sparsity; table2: every family × element sparsity 0–90 %%; "
        "granularity: element/vector/kernel/N:4/filter × sparsity, quality and CPU latency; structured: channel "
        "compression at MAC targets against rows c and d, FID next to measured speed",
    )
    common_flags(p)
    data_flags(p)
    p.add_argument("--family", help="GAN family (dcgan)")
    p.add_argument("--sparsity", type=float, help="target sparsity of every pruned row (default 0.5)")
    p.add_argument("--granularity", help="element (default, as the paper's Table 1), filter, …")
    p.add_argument(
        "--profile",
        choices=list(PROFILE_NAMES),
        default="quick",
        help="quick (default: table1 ≈ 15 min, table2 ≈ 15 min with --jobs 2), full (table1 ≈ 2–3 h, table2 ≈ 2 h) or "
        "wide (ngf 32 teachers trained to convergence, docs/reproduce.md 'Wide teachers': hours per family)",
    )
    p.add_argument("--seeds", type=int, help="training seeds per row (default: quick 1, full and wide 3)")
    p.add_argument(
        "--teacher",
        help="table1: a teacher run directory to use instead of training one; table2/granularity: task=DIR pairs, "
        "comma-separated (e.g. dcgan=runs/t1,pix2pix=runs/t2)",
    )
    p.add_argument("--methods", help="comma-separated method ids or row letters (default: all 15 rows)")
    p.add_argument(
        "--variants",
        help="comma-separated self_supervised variants added as extra rows (sample, squared, anchor1, lrd5e-5, …)",
    )
    p.add_argument(
        "--no-control", action="store_true", help="skip the same-budget dense control row (docs/method.md §7)"
    )
    p.add_argument("--teacher-steps", type=int, help="teacher steps (default: profile); budgets scale with it")
    p.add_argument("--budget-fraction", type=float, help="compression budget as a fraction of the teacher's steps")
    p.add_argument(
        "--budget-fractions",
        help="table1: compression budgets run side by side, comma-separated (default 0.1,0.2: the paper's 10 %% "
        "and ours)",
    )
    p.add_argument("--num-samples", type=int, help="generated samples per score (default: profile)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--tasks", help="table2/granularity: comma-separated tasks (default: all / dcgan,pix2pix)")
    p.add_argument("--sparsities", help="table2/granularity: comma-separated sparsities (default 0.25,0.5,0.75,0.9)")
    p.add_argument("--granularities", help="granularity: comma-separated (default element,vector,kernel,nm,filter)")
    p.add_argument(
        "--filter-importance", default="bn_scale",
        help="granularity: filter criterion (default bn_scale: BatchNorm |γ|, L1 where no affine norm follows)",
    )  # fmt: skip
    p.add_argument("--rows", help="structured: comma-separated rows (default ours,paper,row_d,row_c)")
    p.add_argument(
        "--mac-targets", help="structured: comma-separated fractions of the teacher's MACs (default 0.25,0.1)"
    )
    p.add_argument("--no-latency", action="store_true", help="granularity/structured: skip the latency measurement")
    p.add_argument("--latency-rounds", type=int, default=5, help="granularity: interleaved timing rounds (default 5)")
    p.add_argument(
        "--jobs", type=int, default=1,
        help="cells run at once in worker processes, each with cores/jobs threads (default 1; 2 on 2 cores)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    # the library is imported here, not at the top: building the parser (`gancompress --help`) must not import torch
    from gancompress.experiments.settings import ReproduceSettings
    from gancompress.experiments.table1.outcome import HEADERS, outcome, table
    from gancompress.experiments.table1.results import refresh
    from gancompress.experiments.table1.run import run_table1

    if args.table != "table1":
        return _cmd_sweep(args, settings(ReproduceSettings, args))
    results, md, html = run_table1(settings(ReproduceSettings, args))
    refresh(results)
    keep = ("row", "method", "budget", "seeds", "FID ↓ (± 95 % CI)", "FID / G_O", "FID / control", "coverage ↑",
            "target acc ↑", "flag", "false positive", "wall time")  # fmt: skip
    cols = [HEADERS.index(h) for h in keep]
    text = format_table([[r[i] for i in cols] for r in table(results)], [HEADERS[i] for i in cols])
    text += "\n\n" + "\n".join(f"- {line}" for line in outcome(results))
    text += f"\n\nwall time {results['timing']['wall_seconds'] / 60:.1f} min\nreport: {md}\n        {html}"
    emit(args, results, text)
    return 0


def _cmd_sweep(args: argparse.Namespace, opts: ReproduceSettings) -> int:
    from gancompress.experiments.sweeps.report import outcome, tables
    from gancompress.experiments.sweeps.run import run_sweep

    results, md, html = run_sweep(args.table, opts)
    parts = [f"{title}\n{format_table(rows, headers)}" for title, headers, rows in tables(results)]
    text = "\n\n".join(parts) + "\n\n" + "\n".join(f"- {line}" for line in outcome(results))
    emit(args, results, text + f"\n\nreport: {md}\n        {html}")
    return 0
