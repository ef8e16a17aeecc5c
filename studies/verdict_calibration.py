"""Calibrate the verdict thresholds (verdict.py) on known-bad generators against one trained teacher.

Scores, with one evaluator and sampling seed 0: the teacher itself with sampling seeds 1..N (must pass), a second
teacher checkpoint trained half as long (``--half``, must be flagged), and every generator of
:func:`gancompress.experiments.known_bad.known_bad` (must be flagged). Prints one JSON document: each generator's
scores, its ratios to the teacher's, and the verdict; ``docs/results.md`` "Verdict calibration" reads it.

Usage: ``python studies/verdict_calibration.py --teacher RUN [--half RUN] [--num-samples 2000] > out.json``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _teacher import open_teacher

import gancompress as gc
from gancompress.experiments.known_bad import known_bad
from gancompress.experiments.verdict import THRESHOLDS, quality_flag

KEYS = ("fid", "precision", "recall", "coverage", "min_class_share", "class_kl", "diversity_ratio", "target_accuracy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--half", default=None, help="run dir of the teacher trained for half its steps")
    ap.add_argument("--num-samples", type=int, default=2000)
    ap.add_argument("--teacher-seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--split",
        default="val",
        choices=("val", "test"),
        help="held-out split scored (thresholds are "
        "chosen on val, docs/method.md §7; needs a teacher trained with data.val_fraction > 0)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = open_teacher(args.teacher, args.num_samples, split=args.split)
    g, _, loss = gc.get_family(t.cfg.model.family).select(t.g, t.d, t.cfg)
    loss.bind_eval_data(t.evaluator.test)
    ev = t.evaluator
    teacher = ev.evaluate(g, loss, seed=0)
    x = loss.sample_input(2, torch.Generator().manual_seed(0), "cpu")
    with torch.no_grad():
        out_shape = tuple(g.eval()(*x).shape[1:])
    gens: dict[str, torch.nn.Module] = dict(known_bad(t.train, out_shape, tuple(x[0].shape[1:])))
    if args.half:
        g_half = gc.load_gan(args.half)[0]
        gens["half_trained"] = gc.get_family(t.cfg.model.family).select(g_half, None, t.cfg)[0]
    rows = {}
    for s in range(1, args.teacher_seeds):
        m = ev.evaluate(g, loss, seed=s)
        rows[f"teacher_seed{s}"] = {"metrics": {k: m.get(k) for k in KEYS}, "verdict": quality_flag(m, teacher)}
    for name, gen in gens.items():
        m = ev.evaluate(gen, loss, seed=0)
        rows[name] = {"metrics": {k: m.get(k) for k in KEYS}, "verdict": quality_flag(m, teacher)}
        print(name, json.dumps(rows[name]), file=sys.stderr, flush=True)
    print(json.dumps({
        "teacher": args.teacher, "family": t.cfg.model.family, "data": t.cfg.data.name, "split": args.split,
        "num_samples": teacher["num_samples"], "teacher_metrics": {k: teacher.get(k) for k in KEYS},
        "thresholds": THRESHOLDS, "generators": rows,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
