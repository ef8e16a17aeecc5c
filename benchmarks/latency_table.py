"""How well the per-layer latency table predicts real latency: predicted vs measured on uniformly narrowed generators.

For the demo-size DCGAN generator (``nz=64, ngf=32``, 32 px, the ``--preset demo`` of benchmarks/latency.py) and the
pix2pix U-Net generator of configs/pix2pix_teacher.toml (``ngf=16, max_mult=4``, 32 px), per backend (eager,
ONNX Runtime) × thread count (``--threads``) × batch (``--batch-sizes``): measures the dense model's
:class:`~gancompress.export.layer_latency.LatencyTable`, predicts the latency of the same generator at
``ngf · (1 − ratio)`` for ratios 0.25 / 0.5 / 0.75 (every hidden layer narrowed uniformly, as a uniform pruning ratio
would), and measures all four models side by side with the interleaved harness
(:func:`~gancompress.export.latency.benchmark_latency`: fixed threads, medians of rounds A, B, C, D, A, …).
Reports per ratio predicted / measured latency and speed-up, their ratio, and the table's measuring time.
With ``--speed-target X`` it also runs :func:`~gancompress.export.speed_target.find_ratio_for_speedup` per model
and backend at the first thread count and the last batch size, with ``build(ratio)`` = the narrowed generator.

Prints one JSON object. Usage:
``python benchmarks/latency_table.py [--threads 1,2] [--batch-sizes 1,16] [--rounds 7] [--speed-target 2]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from collections.abc import Callable

import torch
from torch import nn

from gancompress.export.latency import benchmark_latency
from gancompress.export.layer_latency import LatencyTable, cpu_model
from gancompress.export.speed_target import HARNESS_BACKEND, find_ratio_for_speedup
from gancompress.models import create_model

RATIOS = (0.25, 0.5, 0.75)
MODELS: dict[str, tuple[str, dict, int, Callable[[int], tuple[torch.Tensor, ...]]]] = {
    # name: (registry name, kwargs, full ngf, batch -> inputs)
    "dcgan_demo": ("dcgan_generator", {"nz": 64, "channels": 1, "image_size": 32}, 32, lambda b: (torch.randn(b, 64),)),
    "pix2pix": (
        "unet_generator", {"in_channels": 1, "out_channels": 1, "image_size": 32, "max_mult": 4}, 16,
        lambda b: (torch.randn(b, 1, 32, 32),),
    ),
}  # fmt: skip


def builder(name: str) -> Callable[[float], nn.Module]:
    """``ratio -> generator at ngf · (1 − ratio)`` (at least 1), eval mode, fixed seed."""
    registry_name, kwargs, ngf, _ = MODELS[name]

    def build(ratio: float) -> nn.Module:
        torch.manual_seed(0)
        return create_model(registry_name, ngf=max(1, round(ngf * (1 - ratio))), **kwargs).eval()

    return build


def compare_one(name: str, backend: str, threads: int, batch: int, rounds: int) -> dict:
    build, make_inputs = builder(name), MODELS[name][3]
    models = {"dense": build(0.0), **{f"r{r}": build(r) for r in RATIOS}}
    start = time.perf_counter()
    table = LatencyTable.measure(models["dense"], make_inputs(1), backend=backend, threads=threads, batch=batch)
    table_s = time.perf_counter() - start
    rows = benchmark_latency(
        models, make_inputs, batch_sizes=(batch,), backends=(HARNESS_BACKEND[backend],), threads=threads, rounds=rounds
    )
    measured = {r["model"]: r["median_ms"] for r in rows}
    out = {"table_seconds": round(table_s, 1), "overhead_ms": round(table.overhead_s * 1e3, 4), "ratios": {}}
    dense_pred, dense_meas = table.whole_s * 1e3, measured["dense"]
    for key, model in models.items():
        pred = table.predict_model(model) * 1e3
        meas = measured[key]
        out["ratios"][key] = {
            "predicted_ms": round(pred, 4),
            "measured_ms": round(meas, 4) if meas else None,
            "predicted_over_measured": round(pred / meas, 3) if meas else None,
            "predicted_speedup": round(dense_pred / pred, 3),
            "measured_speedup": round(dense_meas / meas, 3) if meas and dense_meas else None,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--backends", default="eager,onnxruntime")
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts")
    ap.add_argument("--batch-sizes", default="1,16")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--speed-target", type=float, default=None, help="also search a ratio for this speed-up")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    names, backends = args.models.split(","), args.backends.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    load_before = os.getloadavg()
    start = time.perf_counter()
    results: dict = {}
    for name in names:
        for backend in backends:
            for t in threads:
                for b in batches:
                    key = f"{name}/{backend}/threads={t}/batch={b}"
                    results[key] = compare_one(name, backend, t, b, args.rounds)
                    logging.getLogger("latency_table").warning("%s done: %s", key, results[key]["ratios"]["r0.5"])
    searches = {}
    if args.speed_target:
        for name in names:
            for backend in backends:
                t0 = time.perf_counter()
                try:
                    res = find_ratio_for_speedup(
                        builder(name), MODELS[name][3](1), args.speed_target, backend=backend, threads=threads[0],
                        batch=batches[-1], rounds=args.rounds,
                    )  # fmt: skip
                    found = {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(res).items()}
                except Exception as exc:  # an unreachable target is a result here, not a crash
                    found = {"error": str(exc)}
                found["seconds"] = round(time.perf_counter() - t0, 1)
                searches[f"{name}/{backend}/threads={threads[0]}/batch={batches[-1]}"] = found
    summary = {
        k: {r: v["ratios"][r]["predicted_over_measured"] for r in v["ratios"] if r != "dense"}
        for k, v in results.items()
    }
    print(
        json.dumps(
            {
                "config": vars(args),
                "machine": {
                    "cpu": cpu_model(),
                    "cpu_count": os.cpu_count(),
                    "platform": platform.platform(),
                    "torch": torch.__version__,
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                },
                "seconds": round(time.perf_counter() - start, 1),
                "predicted_over_measured": summary,
                "speed_target": searches,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
