"""Measured CPU speed-up of channel-compressed generators against their MAC reduction, every built-in family.

For each family at the wide profile's widths ("realistic", ngf 32) and at the task configs' small widths, the
generator is channel-pruned with the library's group-aware selection (docs/pruning.md "Channel pruning", group L2,
kept widths rounded to 8 at realistic widths) to each MAC target (default 1/4 and 1/10 of the dense MACs), physically
shrunk, and timed side by side with the dense generator (interleaved rounds, medians:
:func:`gancompress.export.latency.benchmark_latency`) under eager PyTorch (oneDNN and native kernels), ONNX Runtime
and OpenVINO at the given threads and batch sizes. Weights are random (latency does not depend on them). Reports per
model: MAC reduction, measured speed-up per backend (dense and compressed on the same backend), the best of those as
a fraction of the MAC reduction — the bar of docs/results.md "Measured speed-up per family" is ≥ 0.7 at realistic
widths and ≥ 0.5 at small widths (best backend, 2 threads, batch 16) — and the deployment speed-up: the fastest
backend of the compressed model against the fastest backend of the dense one (what a user who picks the best runtime
for each gains; at most the best same-backend speed-up, since the dense model gets its best runtime too).

Run on an idle machine (``/work/runs/QUIET`` convention: nothing else timing). Prints one JSON object. Usage:
``python benchmarks/channel_speed.py [--threads 2] [--batch-sizes 16] [--targets 0.25,0.1] [--rounds 7]
[--backends eager,eager_native,onnx,openvino]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time

import torch

from gancompress.config import DataCfg, ModelCfg, PruneCfg
from gancompress.export.latency import benchmark_latency
from gancompress.families import get_family
from gancompress.pruning.channel_groups import dense_layer_macs
from gancompress.pruning.channel_masks import ChannelMaskSet
from gancompress.pruning.physical import remove_pruned_channels
from gancompress.pruning.targets import keep_output_dense

# family: (data, {width name: model config})
CASES = {
    "dcgan": (DataCfg(name="fake", image_size=32), {
        "small": ModelCfg(family="dcgan", nz=64, ngf=16, ndf=16),
        "realistic": ModelCfg(family="dcgan", nz=64, ngf=32, ndf=32),
    }),
    "pix2pix": (DataCfg(name="fake_edges", image_size=32), {
        "small": ModelCfg(family="pix2pix", ngf=16, ndf=16),
        "realistic": ModelCfg(family="pix2pix", ngf=32, ndf=32),
    }),
    "cyclegan": (DataCfg(name="fake_unpaired", image_size=32, classes=(7, 9)), {
        "small": ModelCfg(family="cyclegan", ngf=8, ndf=16, g_kwargs={"n_blocks": 2}),
        "realistic": ModelCfg(family="cyclegan", ngf=32, ndf=32, g_kwargs={"n_blocks": 6}),
    }),
    "stargan": (DataCfg(name="fake", image_size=32, classes=(5, 7, 9)), {
        "small": ModelCfg(family="stargan", ngf=8, ndf=16),
        "realistic": ModelCfg(family="stargan", ngf=32, ndf=32),
    }),
    "srgan": (DataCfg(name="fake_sr", image_size=64), {
        "small": ModelCfg(family="srgan", ngf=16, ndf=8),
        "realistic": ModelCfg(family="srgan", ngf=32, ndf=16),
    }),
}  # fmt: skip
#: eager_native: PyTorch without oneDNN, faster for thin layers (export/latency.py); a missing runtime is skipped
BACKENDS = ("eager", "eager_native", "onnx", "openvino")


def shrink(g: torch.nn.Module, x: tuple, target: float, round_to: int) -> tuple[torch.nn.Module, float]:
    prune = keep_output_dense(g, PruneCfg(granularity="channel"), x)
    masks = ChannelMaskSet.attach(g, exclude=prune.exclude, example_inputs=x, round_to=round_to)
    masks.update(masks.ratio_for_macs(target))
    small, _ = remove_pruned_channels(g.eval(), x)
    one = tuple(t[:1] for t in x)
    return small, sum(dense_layer_macs(g, one).values()) / sum(dense_layer_macs(small, one).values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default=",".join(CASES))
    ap.add_argument("--targets", default="0.25,0.1")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--batch-sizes", default="16")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--backends", default=",".join(BACKENDS))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    targets = [float(t) for t in args.targets.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    backends = tuple(args.backends.split(","))
    t0 = time.perf_counter()
    out: dict = {"env": {"torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                         "cores": os.cpu_count(), "loadavg_start": os.getloadavg()[0]},
                 "targets": targets, "threads": threads, "batch_sizes": batches, "models": []}  # fmt: skip
    for family in args.families.split(","):
        data, widths = CASES[family]
        fam = get_family(family)
        for width, model in widths.items():
            torch.manual_seed(0)
            g, d = fam.build(model, data)
            loss = fam.make_loss(g, d)

            def inputs(b: int, loss=loss) -> tuple[torch.Tensor, ...]:
                return tuple(loss.sample_input(b, torch.Generator().manual_seed(0), "cpu"))

            models = {"dense": g.eval()}
            reduction = {}
            for target in targets:
                small, red = shrink(g, inputs(2), target, 8 if width == "realistic" else 1)
                models[f"{target:g}"], reduction[f"{target:g}"] = small, red
            for n in threads:
                rows = benchmark_latency(models, inputs, batch_sizes=batches, backends=backends, threads=n,
                                         rounds=args.rounds)  # fmt: skip
                ms = {(r["model"], r["backend"], r["batch"]): r["median_ms"] for r in rows}
                for key, red in reduction.items():
                    for b in batches:
                        speed = {be: ms[("dense", be, b)] / ms[(key, be, b)] for be in backends
                                 if ms.get((key, be, b)) and ms.get(("dense", be, b))}  # fmt: skip
                        best = max(speed.values()) if speed else None
                        fastest = {m: min(((ms[(m, be, b)], be) for be in speed), default=(None, None))
                                   for m in ("dense", key)}  # fmt: skip
                        out["models"].append({
                            "family": family, "width": width, "ngf": model.ngf, "mac_target": float(key),
                            "mac_reduction": round(red, 2), "threads": n, "batch": b,
                            "dense_ms": {be: ms.get(("dense", be, b)) for be in backends},
                            "ms": {be: ms.get((key, be, b)) for be in backends},
                            "speedup": {be: round(v, 2) for be, v in speed.items()},
                            "best_over_mac_ratio": round(best / red, 3) if best else None,
                            "fastest_backend": {"dense": fastest["dense"][1], "compressed": fastest[key][1]},
                            "deployment_speedup": round(fastest["dense"][0] / fastest[key][0], 2) if speed else None,
                            "bar": 0.7 if width == "realistic" else 0.5,
                        })  # fmt: skip
                        print(json.dumps(out["models"][-1]), flush=True)
    out["env"]["loadavg_end"] = os.getloadavg()[0]
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
