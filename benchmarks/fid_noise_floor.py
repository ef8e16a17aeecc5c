"""How much of a Table 2 FID ratio is sampling noise: re-scores a finished sweep with several sampling seeds.

A Table 2 cell is scored once (one sampling seed, ≤ 2,000 samples), and the targets are tight (FID(50 %) ≤ 1.05×
dense). This script takes a finished ``reproduce table2`` run, loads every teacher and every compressed cell it
names, and scores each with N sampling seeds through the sweep's own evaluator (same extractor, same held-out real
set, same number of samples). Per task it prints the teacher's FID mean ± 95 % interval and, per cell, the ratio to
the teacher computed per seed (the same seed draws the same inputs for both, so the pair shares the conditional
inputs) with its interval — whether a ratio is separable from 1.05× / 1.2× at all.

It measures sampling noise only, not training-seed noise (Table 1's 3-seed intervals cover that).

Usage: ``python benchmarks/fid_noise_floor.py runs/t2-recipe [--seeds 5] [--tasks dcgan,pix2pix] [--out F.json]``
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from gancompress.api import load_gan
from gancompress.experiments.sweeps.sweep import Sweep
from gancompress.files import read_json
from gancompress.metrics.summary import summarize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a finished `gancompress reproduce table2` output directory")
    ap.add_argument("--seeds", type=int, default=5, help="sampling seeds per model (default 5)")
    ap.add_argument("--tasks", default=None, help="comma-separated subset of the run's tasks")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run = Path(args.run)
    results = read_json(run / "results.json")
    sweep = Sweep(results, run)
    seeds = list(range(args.seeds))
    tasks = args.tasks.split(",") if args.tasks else list(results["tasks"])
    report: dict = {"run": str(run), "seeds": seeds, "num_samples": results["profile"]["num_samples"], "tasks": {}}
    t0 = time.perf_counter()
    for name in tasks:
        st = sweep.state(name)
        g_dense, _, loss = st.view()
        fid_t = [st.evaluator.evaluate(g_dense, loss, seed=s, metrics=("fid",))["fid"] for s in seeds]
        entry: dict = {"teacher": _stats(fid_t), "cells": {}}
        teacher_fid = results["tasks"][name]["teacher"]["metrics"]["fid"]
        for key, cell in results["tasks"][name].get("cells", {}).items():
            g_cell, _ = load_gan(run / cell["run"], st.cfg.device)
            fid_c = [st.evaluator.evaluate(g_cell, loss, seed=s, metrics=("fid",))["fid"] for s in seeds]
            entry["cells"][key] = {
                "fid": _stats(fid_c),
                "ratio_recorded": round(cell["metrics"]["fid"] / teacher_fid, 3),
                "ratio_per_seed": _stats([c / t for c, t in zip(fid_c, fid_t, strict=True)]),
                "ratio_of_means": round(sum(fid_c) / sum(fid_t), 3),
            }
        report["tasks"][name] = entry
        print(json.dumps({name: entry}), flush=True)
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({"wall_seconds": report["wall_seconds"]}))


def _stats(values: list[float]) -> dict:
    s = summarize(values)
    return {"mean": round(s["mean"], 4), "std": round(s["std"], 4), "ci95": round(s["ci95"], 4),
            "values": [round(v, 4) for v in values]}  # fmt: skip


if __name__ == "__main__":
    main()
