"""``gancompress benchmark`` and ``gancompress export``: deployment subcommands (registered through ``cli.EXTENSIONS``).

``benchmark RUN [RUN ...]`` times each run's generator as loaded (``masked``), its physically smaller version
(``physical``: with ``--physical`` or when the masks are filter-structured) and the dense reference (the teacher named
in ``compress.json``; otherwise the same architecture with the masks removed, which costs what the unpruned model
costs) under eager PyTorch / ``torch.compile`` / ONNX Runtime, and reports parameters, non-zeros, MACs, effective
MACs, file size, latency, speed-up vs dense, the ideal MAC ratio and measured/ideal.

``export RUN --format onnx|packed|physical --out PATH`` writes a deployable artifact and checks it numerically.

Example:
    $ gancompress benchmark runs/pruned --batch-sizes 1,64 --backends eager,onnx --json
    $ gancompress export runs/pruned --format physical --out runs/pruned-physical
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where a command runs: `gancompress --help` must start at once
    import torch
    from torch import nn

from gancompress.cli import _emit, run_config
from gancompress.errors import UserError

log = logging.getLogger("gancompress")

FORMATS = ("onnx", "packed", "physical")
PARITY_ATOL = 1e-4


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,64, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers, got {text!r}")
    return values


def _backend_list(text: str) -> list[str]:
    from gancompress.latency import BACKENDS

    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in BACKENDS]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"unknown backend(s) {bad or text!r}; valid: {', '.join(BACKENDS)}")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` and ``export`` subcommands to the ``gancompress`` parser."""
    p = sub.add_parser("benchmark", help="latency (eager / torch.compile / ONNX Runtime), MACs, parameters, file size")
    p.set_defaults(func="gancompress.cli_deploy:cmd_benchmark")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories holding generator.safetensors + .json")
    p.add_argument("--batch-sizes", type=_int_list, default=[1, 64], help="comma-separated (default 1,64)")
    p.add_argument(
        "--backends",
        type=_backend_list,
        default=["eager", "eager_native", "compile", "onnx"],
        help="eager,eager_native (no oneDNN),compile,onnx",
    )
    p.add_argument("--threads", type=int, default=2, help="intra-op threads for every backend (default 2)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved timed rounds; medians are reported")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per model/backend/batch first")
    p.add_argument("--physical", action="store_true", help="also time the physically pruned model (auto for filter)")
    p.add_argument("--output", help="also write the JSON results to this file")
    p.add_argument("--model", metavar="FILE.py:FACTORY", help="rebuild runs of a bring-your-own GAN (as in compress)")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")

    p = sub.add_parser("export", help="export a generator: ONNX, packed sparse weights, or physically pruned")
    p.set_defaults(func="gancompress.cli_deploy:cmd_export")
    p.add_argument("run", help="run directory holding generator.safetensors + generator.json")
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx | packed | physical")
    p.add_argument("--out", required=True, help="output file (onnx, packed) or directory (physical)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--model", metavar="FILE.py:FACTORY", help="rebuild runs of a bring-your-own GAN (as in compress)")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")


# ------------------------------------------------------------------------------------------------------ loading
def _load_run(
    run: str | Path, model: str | None = None
) -> tuple[nn.Module, Callable[[int], tuple[torch.Tensor, ...]], dict[str, Any]]:
    """(generator as saved, ``batch -> sample inputs``, info) for a run directory (``model``: ``--model`` spec)."""
    import torch

    from gancompress.config import ModelCfg, RunCfg
    from gancompress.families import get_family
    from gancompress.io import read_json
    from gancompress.user_model import build_user_model, is_user_run, load_saved

    run = Path(run)
    if not (run / "generator.json").is_file():
        raise UserError(f"{run} is not a gancompress run directory (no generator.json / generator.safetensors)")
    g = load_saved(run, "generator", model).eval()  # a user architecture needs --model (clear error otherwise)
    meta = read_json(run / "generator.json")
    compress = read_json(run / "compress.json") if (run / "compress.json").is_file() else {}
    if model or is_user_run(run):
        loss = build_user_model(model).loss  # the factory's GanLoss draws the generator inputs
        family = "user"
    else:
        family = meta.get("family") or (run_config(run).model.family if (run / "config.json").exists() else None)
        if not family:
            raise UserError(f"{run}: the GAN family is unknown (no 'family' in generator.json, no config.json)")
        # a CycleGAN teacher holds two generators: trace / export the one of the run's data.direction (select)
        cfg = run_config(run) if (run / "config.json").exists() else RunCfg(model=ModelCfg(family=family))
        g, _, loss = get_family(family).select(g, None, cfg)

    def make_inputs(n: int) -> tuple[torch.Tensor, ...]:
        return tuple(loss.sample_input(n, torch.Generator().manual_seed(0), "cpu"))

    return g, make_inputs, {"family": family, "teacher": compress.get("teacher"), "model": model}


def _fresh(g: nn.Module, model: str | None) -> nn.Module:
    """A new dense module of ``g``'s architecture (no masks): from its arch spec, or the user's factory."""
    from gancompress.models import create_model
    from gancompress.user_model import USER_ARCH, build_user_model

    spec = getattr(g, "arch_spec", None)
    if isinstance(spec, dict) and spec.get("arch") not in (None, USER_ARCH):
        return create_model(spec["arch"], **spec.get("kwargs", {})).eval()
    if not model:
        raise UserError("this generator was built by a user factory: pass --model FILE.py:FACTORY")
    return build_user_model(model).generator.eval()


def _physical(
    g: nn.Module, make_inputs: Callable[[int], tuple[torch.Tensor, ...]]
) -> tuple[nn.Module, dict[str, Any], float]:
    """(physically pruned copy, removal report, max abs diff vs ``g`` on 8 sample inputs)."""
    from gancompress.pruning.physical import remove_pruned_channels

    small, report = remove_pruned_channels(g, make_inputs(2))
    small.eval()
    if not report.get("removed"):
        skipped = report.get("skipped") or {}
        if skipped:  # filters were pruned, but every coupling that held them could not be shrunk: say why
            first = next(iter(skipped.items()))
            log.warning("no channel was removed: %d pruned layer(s) skipped, e.g. %s: %s", len(skipped), *first)
        else:
            log.warning("no whole filter is pruned, so no channel was removed; prune with --granularity filter")
    return small, report, _max_diff(g, small, make_inputs(8))


def _max_diff(a: nn.Module, b: nn.Module, inputs: tuple[torch.Tensor, ...]) -> float:
    import torch

    with torch.no_grad():
        return float((a(*inputs) - b(*inputs)).abs().max())


def _label(run: Path, used: set[str]) -> str:
    label = run.name or str(run)
    if label in used:
        label = str(run)
    used.add(label)
    return label


# ---------------------------------------------------------------------------------------------------- benchmark
def cmd_benchmark(args: argparse.Namespace) -> int:
    import torch

    from gancompress.deploy import is_filter_structured, model_stats
    from gancompress.io import write_json
    from gancompress.latency import add_speedups, benchmark_latency, thread_contention
    from gancompress.report import format_table
    from gancompress.user_model import load_saved

    if args.threads < 1 or args.rounds < 1 or args.warmup < 0:
        raise UserError("--threads and --rounds must be >= 1 and --warmup >= 0")
    models: dict[str, nn.Module] = {}
    inputs: dict[str, Callable[[int], tuple[torch.Tensor, ...]]] = {}
    info: dict[str, dict[str, Any]] = {}
    reference: dict[str, str] = {}
    teachers: dict[str, str] = {}
    used: set[str] = set()
    for run_arg in args.runs:
        run = Path(run_arg)
        g, make_inputs, meta = _load_run(run, args.model)
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
            models[dense_name] = _fresh(g, args.model)
            info[dense_name] = {"run": str(run), "kind": "dense", "source": "same architecture, fresh dense weights"}
        inputs[dense_name] = make_inputs
        models[f"{label}:masked"] = g
        info[f"{label}:masked"] = {"run": str(run), "kind": "masked", "family": meta["family"]}
        if args.physical or is_filter_structured(g):
            small, _, diff = _physical(g, make_inputs)
            models[f"{label}:physical"] = small
            info[f"{label}:physical"] = {"run": str(run), "kind": "physical", "parity_max_abs_diff": diff}
        for name in (f"{label}:masked", f"{label}:physical"):
            if name in models:
                inputs[name], reference[name] = make_inputs, dense_name
    stats = {name: {**info[name], **model_stats(m, inputs[name](1))} for name, m in models.items()}
    rows = benchmark_latency(
        models,
        inputs,
        batch_sizes=args.batch_sizes,
        backends=args.backends,
        threads=args.threads,
        warmup=args.warmup,
        rounds=args.rounds,
    )
    rows = add_speedups(rows, stats, reference)
    payload = {
        "settings": {
            "threads": args.threads,
            "rounds": args.rounds,
            "batch_sizes": args.batch_sizes,
            "backends": args.backends,
            "loadavg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "cpu_count": os.cpu_count(),
            "thread_contention": thread_contention(args.threads) if args.threads > 1 else 1.0,
            "torch": torch.__version__,
        },
        "models": stats,
        "latency": rows,
    }
    if args.output:
        write_json(args.output, payload)
    cols = ["model", "params", "nonzero", "macs", "effective_macs", "size_bytes"]
    lat_cols = ["model", "backend", "batch", "median_ms", "p10_ms", "p90_ms", "speedup", "ideal_mac_ratio"]
    lat_cols.append("measured_over_ideal")
    lat = [{**r, "median_ms": r["median_ms"] if r["median_ms"] is not None else r["note"]} for r in rows]
    text = format_table([{"model": n, **s} for n, s in stats.items()], cols) + "\n\n" + format_table(lat, lat_cols)
    text += f"\n\nMACs per sample; {args.threads} threads, median of {args.rounds} interleaved rounds"
    _emit(args, payload, text)
    return 0


# ------------------------------------------------------------------------------------------------------ export
def _out_file(out: Path, default_name: str, overwrite: bool) -> Path:
    path = out / default_name if out.is_dir() else out
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; pass --overwrite to replace it")
    return path


def cmd_export(args: argparse.Namespace) -> int:

    if args.format == "onnx":  # before loading anything
        from gancompress.deploy import check_opset

        check_opset(args.opset)
    g, make_inputs, meta = _load_run(args.run, args.model)
    out = Path(args.out)
    if args.format == "onnx":
        from gancompress.deploy import ParityError, export_onnx

        path = _out_file(out, "generator.onnx", args.overwrite)
        try:
            res = export_onnx(g, make_inputs(2), path, opset=args.opset, atol=PARITY_ATOL)
        except ParityError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        payload = {"format": "onnx", **res}
        text = f"ONNX (opset {res['opset']}) → {res['path']} ({res['size_bytes']} bytes)"
    elif args.format == "packed":
        path = _out_file(out, "generator.packed.safetensors", args.overwrite)
        payload = _export_packed(g, make_inputs, path, args.model)
        text = f"packed → {payload['path']}: {payload['size_bytes']} bytes, {payload['size_ratio']:.3f}× the dense size"
    else:
        payload = _export_physical(g, make_inputs, out, meta, args)
        text = f"physically pruned → {payload['path']}: {payload['params']} parameters (was {payload['params_before']})"
    diff = payload.get("max_abs_diff")
    if diff is not None:
        text += f"\nparity: max abs diff vs the masked PyTorch model {diff:.3g} (tolerance {PARITY_ATOL:g})"
        if diff > PARITY_ATOL:
            print(f"error: parity check failed: max abs diff {diff:.3g} > {PARITY_ATOL:g}", file=sys.stderr)
            _emit(args, payload, text)
            return 1
    _emit(args, {"run": str(args.run), **payload}, text)
    return 0


def _export_packed(
    g: nn.Module, make_inputs: Callable[[int], tuple[torch.Tensor, ...]], path: Path, model: str | None = None
) -> dict[str, Any]:
    from gancompress.io import load_state_dict_checked
    from gancompress.pruning.packed import load_packed, packed_size_ratio, save_packed

    save_packed(g, path)
    ratio = packed_size_ratio(g)
    rebuilt = _fresh(g, model)
    load_state_dict_checked(rebuilt, load_packed(path), path)
    diff = _max_diff(g, rebuilt, make_inputs(8))
    size = path.stat().st_size
    return {"format": "packed", "path": str(path), "size_bytes": size, "size_ratio": ratio, "max_abs_diff": diff}


def _export_physical(
    g: nn.Module,
    make_inputs: Callable[[int], tuple[torch.Tensor, ...]],
    out: Path,
    meta: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    from gancompress.io import save_module
    from gancompress.pruning import count_parameters
    from gancompress.rundir import RunDir

    small, report, diff = _physical(g, make_inputs)
    run = RunDir(out, overwrite=args.overwrite, resumable=False)  # export has no --resume
    removal = {k: report[k] for k in ("removed", "channels", "skipped") if k in report}
    extra = {"family": meta["family"], "role": "generator", "source_run": str(args.run), "physical": removal}
    path = save_module(small, run.path, "generator", {**extra, "parity_max_abs_diff": diff})
    params = {"params": count_parameters(small), "params_before": count_parameters(g)}
    return {"format": "physical", "path": str(path), **params, **removal, "max_abs_diff": diff}
