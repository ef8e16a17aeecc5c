"""Real CPU speed of filter pruning: dense vs masked vs physically pruned DCGAN generator.

Builds a DCGAN generator — ``--preset paper`` (default): the paper's DCGAN synthesis model (``nz=100, ngf=64``, 64 px,
docs/method.md Table 2 row "DCGAN synthesis, MNIST 64 px"); ``--preset demo``: the demo's (``nz=64, ngf=32``, 32 px) —
filter-prunes 50 % of every
layer except the output layer (``MaskSet.attach(granularity="filter", exclude=(output,))`` + ``update(0.5)``),
removes the dead channels (``remove_pruned_channels``) and times the three models at batch 1 and 64 under eager
PyTorch, eager with native kernels, ``torch.compile`` and ONNX Runtime with the interleaved harness
(``gancompress.export.latency.benchmark_latency``: fixed threads, warm-up, medians of rounds A, B, C, A, B, C …), once
per thread count in ``--threads`` (default ``1,2``: a tiny batch-1 model does not scale to 2 threads — parallel overhead
on small layers — so the ratio is reported per thread count rather than hidden in one number).

Prints one JSON object: per-model params / MACs / size, every latency row, and per backend × batch the physical
model's measured speed-up, the ideal MAC ratio (dense MACs / physical MACs) and measured/ideal (target ≥ 0.8), plus
ONNX Runtime's (and torch.compile's) speed-up over eager on the pruned generator, and the deployment view
``best_vs_best``: the fastest backend for the dense model against the fastest for the pruned one.
The machine's load average is recorded before and after, and per thread count ``thread_contention`` (a
convolution's time on that many threads over 1 thread): far above 1 means other jobs hold the cores and every OpenMP
parallel region waits for its threads to be scheduled, so PyTorch latencies with that many threads measure the
scheduler (use ``--threads 1`` there).

Usage: ``python benchmarks/latency.py [--preset paper|demo] [--threads 1,2] [--rounds 7] [--backends eager,onnx]``
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform

import torch
from torch import nn

from gancompress.export.latency import add_speedups, benchmark_latency, thread_contention
from gancompress.export.stats import model_stats
from gancompress.models import create_model
from gancompress.models.dcgan import init_dcgan_weights
from gancompress.pruning import MaskSet
from gancompress.pruning.physical import remove_pruned_channels

TARGET = 0.8  # physical speed-up ≥ 0.8 × ideal MAC ratio
PRESETS = {"paper": {"nz": 100, "ngf": 64, "image_size": 64}, "demo": {"nz": 64, "ngf": 32, "image_size": 32}}


def build(nz: int, ngf: int, image_size: int, sparsity: float, seed: int) -> tuple[dict[str, nn.Module], dict]:
    """Dense, masked (filter, output layer excluded) and physically pruned generators + the removal report."""
    torch.manual_seed(seed)
    dense = create_model("dcgan_generator", nz=nz, ngf=ngf, channels=1, image_size=image_size)
    init_dcgan_weights(dense)
    with torch.no_grad():  # realistic BatchNorm statistics: a few training-mode passes
        for _ in range(3):
            dense(torch.randn(64, nz))
    dense.eval()
    output_layer = [n for n, m in dense.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
    masked = copy.deepcopy(dense)
    example = (torch.randn(2, nz),)
    MaskSet.attach(masked, granularity="filter", exclude=(output_layer,), example_inputs=example).update(sparsity)
    physical, report = remove_pruned_channels(masked, example)
    return {"dense": dense, "masked": masked.eval(), "physical": physical.eval()}, {
        "output_layer": output_layer,
        **{k: report.get(k) for k in ("removed", "params_before", "params_after", "max_abs_diff")},
    }


def summarize(rows: list[dict], batch_sizes: list[int], backends: list[str]) -> dict:
    """Per backend × batch: physical (and masked) speed-up vs dense, ideal MAC ratio, measured/ideal, target met."""
    idx = {(r["model"], r["backend"], r["batch"]): r for r in rows}
    out: dict = {}
    for be in backends:
        for b in batch_sizes:
            phys, masked = idx["physical", be, b], idx["masked", be, b]
            ratio = phys["measured_over_ideal"]
            out[f"{be}/b{b}"] = {
                "physical_speedup": phys["speedup"],
                "ideal_mac_ratio": phys["ideal_mac_ratio"],
                "measured_over_ideal": ratio,
                "meets_target": None if ratio is None else ratio >= TARGET,
                "masked_speedup": masked["speedup"],
            }
    for b in batch_sizes:  # deployment view: each model on its own fastest backend
        best = {}
        for model in ("dense", "physical"):
            timed = [(idx[model, be, b]["median_ms"], be) for be in backends if idx[model, be, b]["median_ms"]]
            best[model] = min(timed) if timed else (None, None)
        (d_ms, d_be), (p_ms, p_be) = best["dense"], best["physical"]
        if d_ms and p_ms:
            ideal = idx["physical", backends[0], b]["ideal_mac_ratio"]
            ratio = d_ms / p_ms / ideal
            out[f"best_vs_best/b{b}"] = {
                "dense_backend": d_be, "physical_backend": p_be, "physical_speedup": d_ms / p_ms,
                "ideal_mac_ratio": ideal, "measured_over_ideal": ratio, "meets_target": ratio >= TARGET,
            }  # fmt: skip
    return out


def backend_ratios(rows: list[dict], batch_sizes: list[int], backends: list[str], model: str = "physical") -> dict:
    """Eager latency / backend latency for ``model`` (> 1: the backend is faster than eager PyTorch)."""
    idx = {(r["model"], r["backend"], r["batch"]): r["median_ms"] for r in rows}
    out = {}
    for be in (b for b in backends if b != "eager"):
        for b in batch_sizes:
            eager, other = idx.get((model, "eager", b)), idx.get((model, be, b))
            out[f"{be}_vs_eager/b{b}"] = eager / other if eager and other else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    ap.add_argument("--nz", type=int, default=None, help="override the preset's latent size")
    ap.add_argument("--ngf", type=int, default=None, help="override the preset's generator width")
    ap.add_argument("--image-size", type=int, default=None, help="override the preset's image size")
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts, one harness run each")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch-sizes", default="1,64")
    ap.add_argument("--backends", default="eager,eager_native,compile,onnx")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    shape = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in PRESETS[args.preset].items()}
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    backends = [b.strip() for b in args.backends.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    load_before = os.getloadavg()
    models, removal = build(shape["nz"], shape["ngf"], shape["image_size"], args.sparsity, args.seed)

    def make_inputs(batch: int) -> tuple[torch.Tensor, ...]:
        return (torch.randn(batch, shape["nz"], generator=torch.Generator().manual_seed(batch)),)

    stats = {name: model_stats(m, make_inputs(1)) for name, m in models.items()}
    per_threads = {}
    for threads in thread_counts:
        contention = thread_contention(threads) if threads > 1 else 1.0
        rows = benchmark_latency(
            models,
            make_inputs,
            batch_sizes=batch_sizes,
            backends=backends,
            threads=threads,
            warmup=args.warmup,
            rounds=args.rounds,
        )
        rows = add_speedups(rows, stats, {"masked": "dense", "physical": "dense"})
        per_threads[f"threads={threads}"] = {
            "thread_contention": round(contention, 2),  # conv time on `threads` threads / on 1 (>> 1: busy cores)
            "physical_vs_dense": summarize(rows, batch_sizes, backends),
            "backend_vs_eager_on_physical": backend_ratios(rows, batch_sizes, backends),
            "backend_vs_eager_on_dense": backend_ratios(rows, batch_sizes, backends, "dense"),
            "latency": [{k: v for k, v in r.items() if k not in ("reference",)} for r in rows],
        }
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None

    result = {
        "config": {
            **vars(args),
            **shape,
            "threads": thread_counts,
            "batch_sizes": batch_sizes,
            "backends": backends,
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(),
            "torch": torch.__version__,
            "onnxruntime": ort_version,
        },
        "removal": removal,
        "models": stats,
        "ideal_mac_ratio": {
            "physical": stats["dense"]["macs"] / stats["physical"]["macs"],
            "masked_weight_density": stats["dense"]["macs"] / stats["masked"]["effective_macs"],
        },
        "summary": {
            t: {k: round(v["measured_over_ideal"], 3) for k, v in r["physical_vs_dense"].items()}
            for t, r in per_threads.items()
        },
        **per_threads,
        "target": f"physical speed-up >= {TARGET} x ideal MAC ratio",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
