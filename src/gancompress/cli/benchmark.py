"""``gancompress benchmark``: latency, MACs, parameters and file size of runs' generators.

``benchmark RUN [RUN ...]`` times each run's generator as loaded (``masked``), its physically smaller version
(``physical``: with ``--physical`` or when the masks are filter-structured) and the dense reference (the teacher named
in ``compress.json``; otherwise the same architecture with the masks removed, which costs what the unpruned model
costs) under eager PyTorch / ``torch.compile`` / ONNX Runtime, and reports parameters, non-zeros, MACs, effective
MACs, file size, latency, speed-up vs dense, the ideal MAC ratio and measured/ideal.

Example:
    $ gancompress benchmark runs/pruned --batch-sizes 1,64 --backends eager,onnx --json
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where a command runs: `gancompress --help` must start at once
    import torch
    from torch import nn

from gancompress.errors import UserError

log = logging.getLogger("gancompress")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,64, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers, got {text!r}")
    return values


def _backend_list(text: str) -> list[str]:
    from gancompress.export.latency import BACKENDS

    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in BACKENDS]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"unknown backend(s) {bad or text!r}; valid: {', '.join(BACKENDS)}")
    return values


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("benchmark", help="latency (eager / torch.compile / ONNX Runtime), MACs, parameters, file size")
    p.set_defaults(func=run)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories holding generator.safetensors + .json")
    p.add_argument("--batch-sizes", type=_int_list, default=[1, 64], help="comma-separated (default 1,64)")
    p.add_argument(
        "--backends",
        type=_backend_list,
        default=["eager", "eager_native", "compile", "onnx"],
        help="eager,eager_native (no oneDNN),compile,onnx,onnx_int8,openvino,openvino_int8 (int8: export --int8's "
        "model for that runtime, no quality gate)",
    )
    p.add_argument(
        "--threads", type=_int_list, default=[2], help="intra-op threads, comma-separated: each is timed (default 2)"
    )
    p.add_argument("--rounds", type=int, default=7, help="interleaved timed rounds; medians are reported")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per model/backend/batch first")
    p.add_argument("--physical", action="store_true", help="also time the physically pruned model (auto for filter)")
    p.add_argument("--output", help="also write the JSON results to this file")
    p.add_argument("--model", metavar="FILE.py:FACTORY", help="rebuild runs of a bring-your-own GAN (as in compress)")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")


def _label(run: Path, used: set[str]) -> str:
    label = run.name or str(run)
    if label in used:
        label = str(run)
    used.add(label)
    return label


def run(args: argparse.Namespace) -> int:
    # the library is imported here, not at the top: building the parser (`gancompress --help`) must not import torch
    import torch

    from gancompress.cli.deployment import fresh_dense, load_run, physical_copy
    from gancompress.cli.flags import emit
    from gancompress.export.latency import add_speedups, benchmark_latency, thread_contention
    from gancompress.export.stats import is_filter_structured, model_stats
    from gancompress.families.user import load_saved
    from gancompress.files import write_json
    from gancompress.report.render import format_table

    if args.rounds < 1 or args.warmup < 0:
        raise UserError("--threads and --rounds must be >= 1 and --warmup >= 0")
    models: dict[str, nn.Module] = {}
    inputs: dict[str, Callable[[int], tuple[torch.Tensor, ...]]] = {}
    info: dict[str, dict[str, Any]] = {}
    reference: dict[str, str] = {}
    teachers: dict[str, str] = {}
    used: set[str] = set()
    for run_arg in args.runs:
        run = Path(run_arg)
        g, make_inputs, meta = load_run(run, args.model)
        label = _label(run, used)
        teacher = meta["teacher"]
        if teacher and not (Path(teacher) / "generator.json").is_file():
            log.warning(
                "%s: teacher %s not found; the dense reference is a fresh copy of the architecture", run, teacher
            )
            teacher = None
        if teacher:
            dense_name = teachers.get(str(Path(teacher).resolve()))
            if dense_name is None:
                dense_name = teachers[str(Path(teacher).resolve())] = f"{Path(teacher).name}:dense"
                models[dense_name] = load_saved(teacher, "generator", args.model).eval()
                info[dense_name] = {"run": str(teacher), "kind": "dense", "source": "teacher"}
        else:  # same architecture, fresh dense weights: what the unpruned generator costs
            dense_name = f"{label}:dense"
            models[dense_name] = fresh_dense(g, args.model)
            info[dense_name] = {"run": str(run), "kind": "dense", "source": "same architecture, fresh dense weights"}
        inputs[dense_name] = make_inputs
        models[f"{label}:masked"] = g
        info[f"{label}:masked"] = {"run": str(run), "kind": "masked", "family": meta["family"]}
        if args.physical or is_filter_structured(g):
            small, _, diff = physical_copy(g, make_inputs)
            models[f"{label}:physical"] = small
            info[f"{label}:physical"] = {"run": str(run), "kind": "physical", "parity_max_abs_diff": diff}
        for name in (f"{label}:masked", f"{label}:physical"):
            if name in models:
                inputs[name], reference[name] = make_inputs, dense_name
    stats = {name: {**info[name], **model_stats(m, inputs[name](1))} for name, m in models.items()}
    rows = []
    for threads in args.threads:  # one interleaved benchmark per thread count
        timed = benchmark_latency(
            models, inputs, batch_sizes=args.batch_sizes, backends=args.backends, threads=threads,
            warmup=args.warmup, rounds=args.rounds,
        )  # fmt: skip
        rows += [{**r, "threads": threads} for r in add_speedups(timed, stats, reference)]
    payload = {
        "settings": {
            "threads": args.threads,
            "rounds": args.rounds,
            "batch_sizes": args.batch_sizes,
            "backends": args.backends,
            "loadavg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "cpu_count": os.cpu_count(),
            "thread_contention": {t: thread_contention(t) if t > 1 else 1.0 for t in args.threads},
            "torch": torch.__version__,
        },
        "models": stats,
        "latency": rows,
    }
    if args.output:
        write_json(args.output, payload)
    cols = ["model", "params", "nonzero", "macs", "effective_macs", "size_bytes"]
    lat_cols = ["model", "backend", "threads", "batch", "median_ms", "p10_ms", "p90_ms", "speedup", "ideal_mac_ratio"]
    lat_cols.append("measured_over_ideal")
    if any(b.endswith("_int8") for b in args.backends):
        lat_cols += ["int8_speedup_vs_fp32", "int8_size_vs_fp32", "speedup_vs_dense_fp32"]
    lat = [{**r, "median_ms": r["median_ms"] if r["median_ms"] is not None else r["note"]} for r in rows]
    text = format_table([{"model": n, **s} for n, s in stats.items()], cols) + "\n\n" + format_table(lat, lat_cols)
    threads = ",".join(str(t) for t in args.threads)
    text += f"\n\nMACs per sample; {threads} threads, median of {args.rounds} interleaved rounds"
    emit(args, payload, text)
    return 0
