"""``gancompress export RUN --format onnx|packed|physical --out PATH``: a deployable artifact, checked numerically
against the masked PyTorch model.

Example:
    $ gancompress export runs/pruned --format physical --out runs/pruned-physical
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where a command runs: `gancompress --help` must start at once
    import torch
    from torch import nn

from gancompress.cli.export_int8 import add_flags as add_int8_flags
from gancompress.errors import UserError

FORMATS = ("onnx", "packed", "physical")
PARITY_ATOL = 1e-4


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a generator: ONNX, packed sparse weights, or physically pruned")
    p.set_defaults(func=run)
    p.add_argument("run", help="run directory holding generator.safetensors + generator.json")
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx | packed | physical")
    p.add_argument("--out", required=True, help="output file (onnx, packed) or directory (physical)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--model", metavar="FILE.py:FACTORY", help="rebuild runs of a bring-your-own GAN (as in compress)")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    add_int8_flags(p)


def _out_file(out: Path, default_name: str, overwrite: bool) -> Path:
    path = out / default_name if out.is_dir() else out
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; pass --overwrite to replace it")
    return path


def run(args: argparse.Namespace) -> int:
    # the library is imported here, not at the top: building the parser (`gancompress --help`) must not import torch
    from gancompress.cli.deployment import load_run
    from gancompress.cli.flags import emit

    if args.format == "onnx":  # before loading anything
        from gancompress.export.onnx import check_opset

        check_opset(args.opset)
    if args.int8 and args.format != "onnx":
        raise UserError("--int8 applies to --format onnx")
    g, make_inputs, meta = load_run(args.run, args.model)
    out = Path(args.out)
    if args.int8:
        from gancompress.cli.export_int8 import export_int8_run, summary
        from gancompress.export.int8_gate import Int8QualityError

        path = _out_file(out, "generator.int8.onnx", args.overwrite)
        try:
            payload = export_int8_run(args, g, make_inputs, meta, path)
        except Int8QualityError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        emit(args, payload, summary(payload))
        return 0
    if args.format == "onnx":
        from gancompress.export.onnx import ParityError, annotate_for_deploy, export_onnx

        path = _out_file(out, "generator.onnx", args.overwrite)
        try:
            res = export_onnx(g, make_inputs(2), path, opset=args.opset, atol=PARITY_ATOL)
        except ParityError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        payload = {"format": "onnx", **res}
        annotate_for_deploy(path, make_inputs(64), {"family": meta["family"], "int8": False})
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
            emit(args, payload, text)
            return 1
    emit(args, {"run": str(args.run), **payload}, text)
    return 0


def _export_packed(
    g: nn.Module, make_inputs: Callable[[int], tuple[torch.Tensor, ...]], path: Path, model: str | None = None
) -> dict[str, Any]:
    from gancompress.checkpoint import load_state_dict_checked
    from gancompress.cli.deployment import fresh_dense, max_diff
    from gancompress.pruning.packed import load_packed, packed_size_ratio, save_packed

    save_packed(g, path)
    ratio = packed_size_ratio(g)
    rebuilt = fresh_dense(g, model)
    load_state_dict_checked(rebuilt, load_packed(path), path)
    diff = max_diff(g, rebuilt, make_inputs(8))
    size = path.stat().st_size
    return {"format": "packed", "path": str(path), "size_bytes": size, "size_ratio": ratio, "max_abs_diff": diff}


def _export_physical(
    g: nn.Module,
    make_inputs: Callable[[int], tuple[torch.Tensor, ...]],
    out: Path,
    meta: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    from gancompress.checkpoint import save_module
    from gancompress.cli.deployment import physical_copy
    from gancompress.pruning import count_parameters
    from gancompress.rundir import RunDir

    small, report, diff = physical_copy(g, make_inputs)
    run = RunDir(out, overwrite=args.overwrite, resumable=False)  # export has no --resume
    removal = {k: report[k] for k in ("removed", "channels", "skipped") if k in report}
    extra = {"family": meta["family"], "role": "generator", "source_run": str(args.run), "physical": removal}
    path = save_module(small, run.path, "generator", {**extra, "parity_max_abs_diff": diff})
    params = {"params": count_parameters(small), "params_before": count_parameters(g)}
    return {"format": "physical", "path": str(path), **params, **removal, "max_abs_diff": diff}
