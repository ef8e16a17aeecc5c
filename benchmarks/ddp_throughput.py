"""2-process (torchrun, gloo) vs 1-process compression: step throughput and the FID the runs reach.

Every run is ``gancompress compress`` on the same teacher for the same number of steps, one thread per process
(``OMP_NUM_THREADS=1``), in interleaved rounds (single, ddp_per_rank, ddp_global, single, …):

- ``single``        1 process, batch B                                   — the reference
- ``ddp_per_rank``  2 processes × batch B   (global batch 2B: same per-rank batch, twice the samples per step)
- ``ddp_global``    2 processes × batch B/2 (global batch B: same samples per step as ``single``)

Throughput = samples/s = steps × global batch / seconds of the training loop (``compress.json`` "seconds", so process
start-up, model loading and saving are excluded). Ratios are medians over rounds vs ``single``. FID (domain
extractor) of every run against the held-out digits, mean over rounds per configuration; ``fid_diff`` = config −
single. Prints one JSON object.

Usage: ``python benchmarks/ddp_throughput.py [--teacher RUN] [--steps 150] [--rounds 2] [--batch-size 64]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"single": (1, 1.0), "ddp_per_rank": (2, 1.0), "ddp_global": (2, 0.5)}  # name: (processes, batch factor)


def run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc.stdout


def gancompress(nproc: int) -> list[str]:
    if nproc == 1:
        return [sys.executable, "-m", "gancompress"]
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nnodes=1", f"--nproc_per_node={nproc}"]
    return [sys.executable, *launcher, "-m", "gancompress"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", help="teacher run directory (default: train one on digits first)")
    ap.add_argument("--teacher-steps", type=int, default=600)
    ap.add_argument("--steps", type=int, default=150, help="compression steps per run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64, help="B: the single-process batch")
    ap.add_argument("--width", type=int, default=16, help="ngf = ndf of the teacher trained here")
    ap.add_argument("--num-samples", type=int, default=1000, help="generated samples per FID")
    ap.add_argument("--workdir", help="where runs go (default: a temporary directory)")
    args = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    work = Path(args.workdir or tempfile.mkdtemp(prefix="ddp-bench-"))
    quiet = ["-q", "--json", "--set", "train.sample_every=0", "--set", "train.ckpt_every=0"]

    teacher = Path(args.teacher) if args.teacher else work / "teacher"
    if not args.teacher:
        widths = ["--set", f"model.ngf={args.width}", "--set", f"model.ndf={args.width}"]
        cmd = [*gancompress(1), "train", "--data", "digits", "--steps", str(args.teacher_steps), "--out", str(teacher)]
        run([*cmd, "--batch-size", str(args.batch_size), "--overwrite", *widths, *quiet], env)

    seconds: dict[str, list[float]] = {name: [] for name in CONFIGS}
    runs: dict[str, list[str]] = {name: [] for name in CONFIGS}
    for r in range(args.rounds):
        for name, (nproc, factor) in CONFIGS.items():
            out = work / f"{name}_{r}"
            batch = max(1, int(args.batch_size * factor))
            cmd = [*gancompress(nproc), "compress", "--teacher", str(teacher), "--steps", str(args.steps)]
            run([*cmd, "--batch-size", str(batch), "--out", str(out), "--overwrite", *quiet], env)
            seconds[name].append(json.loads((out / "compress.json").read_text())["seconds"])
            runs[name].append(str(out))

    all_runs = [str(teacher), *(p for name in CONFIGS for p in runs[name])]
    evaluate = [*gancompress(1), "evaluate", *all_runs, "--num-samples", str(args.num_samples), "--json", "-q"]
    scores = json.loads(run(evaluate, env))

    results: dict[str, Any] = {}
    for name, (nproc, factor) in CONFIGS.items():
        global_batch = max(1, int(args.batch_size * factor)) * nproc
        med = statistics.median(seconds[name])
        fids = [scores[p]["fid"] for p in runs[name]]
        results[name] = {
            "processes": nproc,
            "batch_per_rank": global_batch // nproc,
            "global_batch": global_batch,
            "loop_seconds": seconds[name],
            "steps_per_s": round(args.steps / med, 3),
            "samples_per_s": round(args.steps * global_batch / med, 1),
            "fid": fids,
            "fid_mean": round(statistics.fmean(fids), 3),
        }
    base = results["single"]
    for name in ("ddp_per_rank", "ddp_global"):
        res = results[name]
        res["throughput_ratio_samples"] = round(res["samples_per_s"] / base["samples_per_s"], 3)
        res["throughput_ratio_steps"] = round(res["steps_per_s"] / base["steps_per_s"], 3)
        res["fid_diff"] = round(res["fid_mean"] - base["fid_mean"], 3)
    payload = {
        "teacher": str(teacher),
        "teacher_fid": scores[str(teacher)]["fid"],
        "steps": args.steps,
        "rounds": args.rounds,
        "threads_per_process": 1,
        "cpu_count": os.cpu_count(),
        "num_samples": args.num_samples,
        "configs": results,
    }
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
