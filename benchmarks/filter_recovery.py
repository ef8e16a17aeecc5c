"""Can self_supervised recover *structured* (filter) pruning? Quality next to element sparsity.

The paper prunes single weights; its filter results collapsed. This sweep compresses one fixed teacher with
``self_supervised`` at filter granularity (output layer dense, channels truly removable) and, as the reference, at
element granularity, over ``--sparsities`` and recovery variants, ``--seeds`` training seeds each. Every result is
scored by one evaluator with a fixed sampling seed (domain FID, class coverage), so rows are comparable.

Variants (``--variants``): name → changes to (method cfg, prune cfg, train cfg). ``budgetNN`` is the compression
budget as a percentage of the teacher's steps; ``random`` ranks filters randomly (control: is the L1 criterion
informative at all when a BatchNorm follows the filter?); ``bn`` ranks them by BatchNorm |γ| (``bn_scale``),
``global`` uses one threshold across layers;
``lrdX`` is D's learning rate; ``rampX`` the fraction of the budget over which AGP ramps; ``anchor1`` adds
‖G_C(x) − G_O(x)‖₁; ``rowd`` is Table 1 row d (one-shot + plain adversarial fine-tuning) instead of self_supervised.

Appends one JSON line per (granularity, sparsity, variant) to ``--out`` as it goes (a crash keeps finished rows;
``--skip-done`` re-reads it) and prints the summary table at the end.

Usage: ``python benchmarks/filter_recovery.py --teacher runs/demo-fresh/teacher --sparsities 0.5 --variants
budget50,budget50_random --seeds 1 --out results/filter_recovery.jsonl``
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from _teacher import open_teacher

import gancompress as gc
from gancompress.metrics.summary import summarize

VARIANTS: dict[str, tuple[dict, dict, dict]] = {
    "budget20": ({}, {}, {"budget_fraction": 0.2}),
    "budget20_random": ({}, {"importance": "random"}, {"budget_fraction": 0.2}),
    "budget20_bn": ({}, {"importance": "bn_scale"}, {"budget_fraction": 0.2}),
    "budget20_bn_global": ({}, {"importance": "bn_scale", "scope": "global"}, {"budget_fraction": 0.2}),
    "budget20_bn_lrd5e-5": ({}, {"importance": "bn_scale"}, {"budget_fraction": 0.2, "lr_d": 5e-5}),
    "budget20_bn_rowd": ({"name": "oneshot_finetune"}, {"importance": "bn_scale"}, {"budget_fraction": 0.2}),
    "budget50": ({}, {}, {"budget_fraction": 0.5}),
    "budget50_bn": ({}, {"importance": "bn_scale"}, {"budget_fraction": 0.5}),
    "budget50_random": ({}, {"importance": "random"}, {"budget_fraction": 0.5}),
    "budget50_lrd5e-5": ({}, {}, {"budget_fraction": 0.5, "lr_d": 5e-5}),
    "budget50_ramp0.2": ({}, {"ramp_fraction": 0.2}, {"budget_fraction": 0.5}),
    "budget50_ramp0.8": ({}, {"ramp_fraction": 0.8}, {"budget_fraction": 0.5}),
    "budget50_anchor1": ({"anchor": 1.0}, {}, {"budget_fraction": 0.5}),
    "budget100": ({}, {}, {"budget_fraction": 1.0}),
    "budget50_rowd": ({"name": "oneshot_finetune"}, {}, {"budget_fraction": 0.5}),
}


def _done(path: Path) -> set[tuple[str, float, str]]:
    if not path.is_file():
        return set()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["granularity"], r["sparsity"], r["variant"]) for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--granularities", default="filter,element")
    ap.add_argument("--sparsities", default="0.25,0.5,0.75")
    ap.add_argument("--variants", default="budget20,budget50")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--num-samples", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="results/filter_recovery.jsonl")
    ap.add_argument("--skip-done", action="store_true", help="skip rows already in --out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    done = _done(out) if args.skip_done else set()
    t = open_teacher(args.teacher, args.num_samples)
    cfg, train, ev, g, d, info, loss = t.cfg, t.train, t.evaluator, t.g, t.d, t.info, t.loss
    metrics = ("fid", "class_coverage")
    teacher = ev.evaluate(g, loss, metrics=metrics)
    rows = []
    for gran in args.granularities.split(","):
        for sparsity in (float(s) for s in args.sparsities.split(",")):
            for name in args.variants.split(","):
                if (gran, sparsity, name) in done:
                    continue
                m_chg, p_chg, t_chg = VARIANTS[name]
                method = replace(gc.MethodCfg(), **m_chg)
                prune = replace(gc.PruneCfg(sparsity=sparsity, granularity=gran), **p_chg)
                tcfg = replace(gc.TrainCfg(batch_size=cfg.train.batch_size), **t_chg)
                fids, covs, secs, summary = [], [], [], {}
                for seed in range(args.seeds):
                    t0 = time.perf_counter()
                    res = gc.compress(
                        g, d, train, family=cfg.model.family, method=method, prune=prune, train=tcfg,
                        teacher_steps=info.get("steps"), seed=seed,
                    )  # fmt: skip
                    secs.append(time.perf_counter() - t0)
                    m = ev.evaluate(res.generator, loss, metrics=metrics)
                    fids.append(m["fid"])
                    covs.append(m["class_coverage"])
                    summary = res.summary()
                st = summarize(fids)
                row = {
                    "granularity": gran, "sparsity": sparsity, "variant": name, "seeds": args.seeds,
                    "fid": round(st["mean"], 4), "fid_ci95": round(st["ci95"], 4), "fids": [round(f, 4) for f in fids],
                    "class_coverage": round(sum(covs) / len(covs), 4),
                    "ratio_to_teacher": round(st["mean"] / teacher["fid"], 3),
                    "teacher_fid": round(teacher["fid"], 4), "seconds_per_run": round(sum(secs) / len(secs), 1),
                    "achieved_sparsity": round(summary["sparsity"], 4), "nonzero": summary["nonzero"],
                    "steps": summary["steps"],
                }  # fmt: skip
                rows.append(row)
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    print(f"{'gran':8s} {'sparsity':>8s} {'variant':18s} {'FID':>16s} {'×teacher':>8s}")
    for r in rows:
        print(
            f"{r['granularity']:8s} {r['sparsity']:8.2f} {r['variant']:18s} "
            f"{r['fid']:8.3f} ± {r['fid_ci95']:6.3f} {r['ratio_to_teacher']:8.2f}"
        )


if __name__ == "__main__":
    main()
