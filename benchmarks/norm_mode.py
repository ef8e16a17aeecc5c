"""Effect of the normalisation mode of G_O in Eq. 7–8 (docs/decisions.md "Normalisation mode"), before vs after.

Two measurements on one trained teacher:

1. ``L_GC`` and ``L_DC`` at G_C = G_O: the ``self_supervised`` strategy is set up exactly as ``compress`` does it
   (g_comp a copy of G_O, in the train mode the loop trains it in) and its ``generator_step`` is called on
   ``--batches`` real batches without any optimizer step. With G_O and G_C run in the same mode both must be 0.
2. FID of ``self_supervised`` at ``--sparsity`` element sparsity with ``--budget-fraction`` of the teacher's steps,
   for ``--seeds`` training seeds, scored by one evaluator with a fixed sampling seed.

The script only uses the public API, so the same file runs against an older checkout (``PYTHONPATH=<old>/src``)
for the "before" column.

Usage: ``python benchmarks/norm_mode.py --teacher runs/dcgan_teacher [--seeds 3] [--threads 1] > out.json``
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import subprocess
import time
from pathlib import Path

import torch
from _teacher import open_teacher

import gancompress as gc
from gancompress.data import InfiniteLoader
from gancompress.methods import create_method
from gancompress.metrics.summary import summarize


def consistency_at_identity(t, batches: int, seed: int = 0) -> dict[str, float]:
    """Mean ``g/gc`` and ``g/dc`` of self_supervised's G step when G_C is an unpruned copy of G_O."""
    torch.manual_seed(seed)
    teacher, g_comp, d = copy.deepcopy(t.g), copy.deepcopy(t.g), copy.deepcopy(t.d)
    loss = gc.get_family(t.cfg.model.family).make_loss(g_comp, d)
    loss.generator = g_comp
    method = create_method(gc.MethodCfg(name="self_supervised"))
    method.setup(g_comp, teacher, d, loss)
    g_comp.train()  # what train() does before the first step
    d.train()
    loader = InfiniteLoader(t.train, t.cfg.train.batch_size, seed=seed)
    gcs, dcs = [], []
    for _ in range(batches):
        out = method.generator_step(loader.next_batch())
        gcs.append(float(out["g/gc"]))
        dcs.append(float(out["g/dc"]))
    return {"l_gc": sum(gcs) / len(gcs), "l_dc": sum(dcs) / len(dcs), "l_gc_max": max(gcs), "batches": batches}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-offset", type=int, default=0, help="first training seed (more seeds in a second run)")
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--budget-fraction", type=float, default=0.2)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--num-samples", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--label", default="", help="free text recorded in the output (e.g. before / after)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = open_teacher(args.teacher, args.num_samples)
    out: dict = {
        "label": args.label,
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(gc.__file__).parent
        ).stdout.strip(),
        "teacher": args.teacher,
        "at_identity": consistency_at_identity(t, args.batches),
    }
    print(json.dumps(out["at_identity"]), flush=True)
    metrics = ("fid", "kid", "class_coverage")
    out["teacher_fid"] = t.evaluator.evaluate(t.g, t.loss, metrics=metrics)["fid"]
    steps = max(1, math.ceil(args.budget_fraction * int(t.info["steps"])))
    fids, secs = [], []
    for seed in range(args.seed_offset, args.seed_offset + args.seeds):
        t0 = time.perf_counter()
        res = gc.compress(
            t.g, t.d, t.train, family=t.cfg.model.family, method="self_supervised",
            prune=gc.PruneCfg(sparsity=args.sparsity, granularity="element"),
            train=gc.TrainCfg(steps=steps, batch_size=t.cfg.train.batch_size), teacher_steps=t.info["steps"],
            seed=seed,
        )  # fmt: skip
        secs.append(round(time.perf_counter() - t0, 1))
        fids.append(t.evaluator.evaluate(res.generator, t.loss, metrics=metrics)["fid"])
        print(json.dumps({"seed": seed, "fid": fids[-1], "seconds": secs[-1]}), flush=True)
    st = summarize(fids)
    out["self_supervised"] = {
        "steps": steps, "fids": fids, "fid": st["mean"], "fid_ci95": st["ci95"],
        "ratio_to_teacher": st["mean"] / out["teacher_fid"], "seconds": secs,
    }  # fmt: skip
    print(json.dumps(out, indent=2), flush=True)


if __name__ == "__main__":
    main()
