"""Train a family's wide teacher until converged (docs/reproduce.md "Wide teachers"), one family per call.

Each round trains (or resumes) the teacher, scores it on the validation split, trains the same-budget dense control
(the teacher continued with its own GAN loss for 20 % of its steps, once per seed, 3 seeds by default) and scores
them; while the control improves FID
by 5 % or more on average the teacher is resumed for half its profile length again. Every round is written to
``results/teacher_convergence_<family>.json``; re-running the same command continues after the recorded rounds.

Usage (one training process at a time on a shared 2-core machine):
    OMP_NUM_THREADS=1 python studies/teacher_convergence.py dcgan --out /work/runs/wide/dcgan
    OMP_NUM_THREADS=1 python studies/teacher_convergence.py cyclegan --out /work/runs/wide/cyclegan --max-rounds 2
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from gancompress.experiments.convergence import (
    CONTROL_FRACTION,
    CONTROL_SEEDS,
    THRESHOLD,
    TeacherConvergence,
    run_convergence,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("family", help="dcgan, pix2pix, cyclegan (its a2b task), stargan or srgan")
    p.add_argument("--out", required=True, help="directory of the teacher run and its control runs")
    p.add_argument("--profile", default="wide", help="the task profile whose teacher is trained (default wide)")
    p.add_argument("--results", help="results JSON (default results/teacher_convergence_<family>.json)")
    p.add_argument("--max-rounds", type=int, default=4, help="rounds in all, the first included (default 4)")
    p.add_argument("--extend", type=int, help="steps added per continuation round (default: half the profile's)")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="converged below this FID gain (0.05)")
    p.add_argument("--control-fraction", type=float, default=CONTROL_FRACTION, help="control budget (0.2)")
    p.add_argument(
        "--control-seeds",
        type=int,
        default=CONTROL_SEEDS,
        help="controls per round; the decision uses their mean FID (default 3)",
    )
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    results = Path(args.results or f"results/teacher_convergence_{args.family}.json")
    job = TeacherConvergence(
        args.family,
        args.out,
        profile=args.profile,
        overrides=args.overrides,
        control_fraction=args.control_fraction,
        control_seeds=args.control_seeds,
    )
    record = run_convergence(job, results, extend=args.extend, max_rounds=args.max_rounds, threshold=args.threshold)
    for r in record["rounds"]:
        print(
            f"{record['task']} round {r['round']}: {r['steps']} steps, teacher FID {r['teacher_fid']:.3f}, "
            f"control FID {r['control_fid']:.3f}, ratio {r['ratio']:.3f}"
            + (f" (95 % CI {r['ratio_ci95'][0]:.3f}–{r['ratio_ci95'][1]:.3f})" if "ratio_ci95" in r else "")
            + f" → {'converged' if r['converged'] else 'continue'}"
            + ("" if r.get("resolved", True) else " (decided by the controls' noise)")
        )
    print(json.dumps({k: record[k] for k in ("task", "converged", "final_steps", "teacher_run")}))
    return 0 if record["converged"] else 3


if __name__ == "__main__":
    sys.exit(main())
