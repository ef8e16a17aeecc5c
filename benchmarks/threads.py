"""Steps per second of `train` and `compress` on 1 vs N threads, on an idle and on a loaded machine, side by side.

The demo-size DCGAN (nz 64, ngf 32, 32 px, batch 64) on the file-free ``fake`` data, through the real loop: a dense
teacher step (``train``) and a self_supervised step with 50 % masks (``compress``). Thread counts alternate in
rounds (1, N, 1, N, …) after a warm-up; ``loaded`` runs the same rounds while ``--load`` busy processes (plain
Python loops, one core each) hold cores — the situation of a shared 2-core machine. The default of ``--threads``
(cli.py) is chosen from this table.

Prints one JSON object. Usage: ``python benchmarks/threads.py [--threads 2] [--rounds 5] [--steps 20] [--load 1]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time

import torch

import gancompress as gc
from gancompress.data import InfiniteLoader
from gancompress.methods import create_method
from gancompress.pruning import MaskSet, Pruner
from gancompress.training.loop import train


def _busy(stop: mp.Event) -> None:  # one core's worth of unrelated work
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def _steps_per_second(kind: str, g, d, loss, data, steps: int) -> float:
    import copy

    g_comp = copy.deepcopy(g)
    name = "dense" if kind == "train" else "self_supervised"
    method = create_method(gc.MethodCfg(name=name))
    method.setup(g_comp, copy.deepcopy(g) if kind == "compress" else None, copy.deepcopy(d), loss)
    masks = MaskSet.attach(g_comp) if kind == "compress" else None
    if masks is not None:
        masks.update(0.5)
    cfg = gc.TrainCfg(steps=steps, batch_size=64, log_every=steps, sample_every=0, ckpt_every=0)
    t0 = time.perf_counter()
    pruner = Pruner(masks) if masks is not None else None  # fixed masks: no schedule
    train(method, InfiniteLoader(data, 64, seed=0), steps=steps, cfg=cfg, pruner=pruner)
    return steps / (time.perf_counter() - t0)


def measure(threads: int, rounds: int, steps: int) -> dict[str, dict[int, float]]:
    cfg = gc.RunCfg(data=gc.DataCfg(name="fake", image_size=32))
    data = gc.load_dataset(cfg.data, "train")
    torch.manual_seed(0)
    g, d = gc.get_family("dcgan").build(cfg.model, cfg.data)
    loss = gc.get_family("dcgan").make_loss(g, d)
    out: dict[str, dict[int, list[float]]] = {k: {1: [], threads: []} for k in ("train", "compress")}
    for kind in out:
        for n in (1, threads):  # warm-up
            torch.set_num_threads(n)
            _steps_per_second(kind, g, d, loss, data, 3)
        for _ in range(rounds):
            for n in (1, threads):
                torch.set_num_threads(n)
                out[kind][n].append(_steps_per_second(kind, g, d, loss, data, steps))
    return {k: {n: statistics.median(v) for n, v in per.items()} for k, per in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--load", type=int, default=1, help="busy processes during the 'loaded' measurement")
    args = ap.parse_args()
    result: dict = {"cpu_count": os.cpu_count(), "threads": args.threads, "steps": args.steps, "rounds": args.rounds}
    result["idle"] = measure(args.threads, args.rounds, args.steps)
    stop = mp.Event()
    busy = [mp.Process(target=_busy, args=(stop,), daemon=True) for _ in range(args.load)]
    for p in busy:
        p.start()
    try:
        result["loaded"] = measure(args.threads, args.rounds, args.steps)
    finally:
        stop.set()
        for p in busy:
            p.join(timeout=5)
    for state in ("idle", "loaded"):
        for kind, per in result[state].items():
            result[state][kind] = {
                "steps_per_s_1_thread": round(per[1], 2),
                f"steps_per_s_{args.threads}_threads": round(per[args.threads], 2),
                f"{args.threads}_threads_over_1": round(per[args.threads] / per[1], 3),
            }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
