"""Cost of one compression step vs one plain GAN training step on the same batch (issue target: ≤ 1.15×).

All variants run through the real loop (``gancompress.training.loop.train``) on the same data, widths and batch size, in
interleaved rounds (A, B, C, D, A, B, …) after a warm-up; per-step medians over rounds are compared side by side:

- ``plain``            dense GAN training step (D step + G step; what a teacher step costs)
- ``masked_plain``     the same step with 50 % element masks (mask_grads + re-apply): the mask overhead alone
- ``self_supervised``  Eq. 9 step with masks: adds g_orig's no-grad forward and D on g_orig's output
- ``oneshot_finetune`` Table 1 row d (masked plain GAN step), for reference

Prints one JSON object. Usage: ``python benchmarks/step_overhead.py [--threads 2] [--rounds 7] [--steps 15]``
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch

import gancompress as gc
from gancompress.methods import create_method
from gancompress.pruning import MaskSet, Pruner
from gancompress.training.loop import train


def make(method: str, g, d, loss, masked: bool, sparsity: float):
    g_comp, d_copy = copy.deepcopy(g), copy.deepcopy(d)
    m = create_method(gc.MethodCfg(name=method))
    m.setup(g_comp, copy.deepcopy(g) if method != "dense" else None, d_copy, loss)
    masks = None
    if masked:
        masks = MaskSet.attach(g_comp)
        masks.update(sparsity)
    return m, masks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--data", default="digits")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = gc.RunCfg(data=gc.DataCfg(name=args.data))
    data = gc.load_dataset(cfg.data, "train")
    fam = gc.get_family("dcgan")
    g, d = fam.build(cfg.model, cfg.data)
    loss = fam.make_loss(g, d)
    variants = {
        "plain": make("dense", g, d, loss, False, 0.0),
        "masked_plain": make("dense", g, d, loss, True, 0.5),
        "self_supervised": make("self_supervised", g, d, loss, True, 0.5),
        "oneshot_finetune": make("oneshot_finetune", g, d, loss, True, 0.5),
    }
    # fixed masks (no schedule updates) so every variant times the steady-state step
    tcfg = gc.TrainCfg(steps=args.steps, batch_size=args.batch_size, log_every=10**9, ckpt_every=0, sample_every=0)
    loaders = {k: gc.InfiniteLoader(data, args.batch_size, seed=0) for k in variants}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for rnd in range(args.rounds + 1):
        for name, (method, masks) in variants.items():
            t0 = time.perf_counter()
            pruner = Pruner(masks) if masks is not None else None
            train(method, loaders[name], steps=args.steps, cfg=tcfg, pruner=pruner)
            if rnd > 0:  # round 0 is the warm-up
                times[name].append((time.perf_counter() - t0) / args.steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {
        "threads": args.threads,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "median_step_ms": {k: round(v * 1e3, 2) for k, v in med.items()},
        "ratio_self_supervised_vs_plain": round(med["self_supervised"] / med["plain"], 3),
        "ratio_masked_plain_vs_plain": round(med["masked_plain"] / med["plain"], 3),
        "ratio_oneshot_finetune_vs_plain": round(med["oneshot_finetune"] / med["plain"], 3),
        "target_self_supervised_vs_plain": 1.15,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
