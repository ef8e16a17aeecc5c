"""Investigate self_supervised's options from one fixed teacher, over several training seeds (docs/method.md §7).

Each variant compresses the same teacher to the same sparsity with the same budget (10 % of the teacher's steps by
default) for ``--seeds`` training seeds; every result is scored by one evaluator with a fixed sampling seed, so the
spread is the training-seed spread. Rows: FID mean ± 95 % interval, and the ratio to the teacher's FID.

Variants (``--variants`` comma list, default all): ``paper`` (batch reduction, abs, λ=0.5, lr 2e-4), ``sample``
(per-sample reduction), ``squared``, ``lr1e-4``, ``lr5e-5``, ``anchor1`` (+1·‖G_C(x) − G_O(x)‖₁), ``sample_lr5e-5``,
``oneshot`` (self_supervised with a one-shot schedule), ``lrd5e-5`` / ``frozen_d`` (D's learning rate 5e-5 / 0),
``anchor1_lrd5e-5``, ``budget20`` (20 % of the teacher's steps), ``oneshot_finetune`` (Table 1 row d, also
``_budget20``), ``continued`` (the dense teacher trained on for the same budget, plain GAN loss).

Usage: ``python benchmarks/ss_variants.py --teacher runs/demo/teacher [--seeds 3] [--variants paper,sample]``
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import torch
from _teacher import open_teacher

import gancompress as gc
from gancompress.experiments.variants import VARIANTS  # in the library (also used by reproduce table1)
from gancompress.metrics.summary import summarize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--granularity", default="element")
    ap.add_argument("--steps", type=int, default=None, help="compression steps (default 10 %% of the teacher's)")
    ap.add_argument("--num-samples", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = open_teacher(args.teacher, args.num_samples)
    cfg, train, ev, g, d, info, loss = t.cfg, t.train, t.evaluator, t.g, t.d, t.info, t.loss
    metrics = ("fid", "kid", "class_coverage")
    teacher_fid = ev.evaluate(g, loss, metrics=metrics)["fid"]
    rows = {}
    for name in args.variants.split(","):
        m_chg, p_chg, t_chg = VARIANTS[name]
        method = replace(gc.MethodCfg(), **m_chg)
        prune = replace(gc.PruneCfg(sparsity=args.sparsity, granularity=args.granularity), **p_chg)
        tcfg = replace(gc.TrainCfg(steps=args.steps, batch_size=cfg.train.batch_size), **t_chg)
        fids, secs = [], []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            res = gc.compress(
                g,
                d,
                train,
                family=cfg.model.family,
                method=method,
                prune=prune,
                train=tcfg,
                teacher_steps=info.get("steps"),
                seed=seed,
            )
            secs.append(time.perf_counter() - t0)
            fids.append(ev.evaluate(res.generator, loss, metrics=metrics)["fid"])
        st = summarize(fids)
        rows[name] = {
            "fid": round(st["mean"], 4),
            "fid_ci95": round(st["ci95"], 4),
            "fids": [round(f, 4) for f in fids],
            "ratio_to_teacher": round(st["mean"] / teacher_fid, 3),
            "seconds_per_run": round(sum(secs) / len(secs), 1),
        }
        print(json.dumps({name: rows[name]}), flush=True)
    print(
        json.dumps(
            {
                "teacher": args.teacher,
                "teacher_fid": round(teacher_fid, 4),
                "sparsity": args.sparsity,
                "granularity": args.granularity,
                "seeds": args.seeds,
                "num_samples": args.num_samples,
                "variants": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
