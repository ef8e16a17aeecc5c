"""``gancompress export RUN --format onnx --int8``: a statically quantized ONNX model behind the quality gate
(export/int8_gate.py), with its JSON report, its sample inputs and metadata for examples/infer_onnx.py.

Example:
    $ gancompress export runs/compressed --format onnx --int8 --out deploy/g.int8.onnx
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from gancompress.errors import UserError

log = logging.getLogger("gancompress")


def add_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("int8 (with --format onnx)")
    g.add_argument("--int8", action="store_true", help="static int8: per-channel int8 weights, uint8 activations")
    g.add_argument("--calib-batches", type=int, default=8, help="calibration batches of the generator's inputs (8)")
    g.add_argument("--calib-batch-size", type=int, default=16, help="inputs per calibration batch (16)")
    g.add_argument("--int8-format", choices=("qdq", "qoperator"), default="qdq", help="ONNX quantized form (qdq)")
    g.add_argument("--int8-runtime", choices=("onnxruntime", "openvino"), default="onnxruntime",
                   help="runtime the int8 model is made for and gated on (openvino: optional, faster)")  # fmt: skip
    g.add_argument("--int8-tolerance", type=float, default=0.05,
                   help="largest FID rise over the fp32 export the gate accepts (0.05 = 5 %%)")  # fmt: skip
    g.add_argument("--no-quality-gate", action="store_true",
                   help="skip the FID gate (fidelity to fp32 is still measured); for a model without data")  # fmt: skip
    g.add_argument("--num-samples", type=int, help="generated samples per FID of the gate (default: the run's config)")
    g.add_argument("--data", help="dataset for calibration and the gate (default: the run's config)")
    g.add_argument("--data-dir", help="directory of IDX files / images for --data")
    g.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads while scoring (1)")


def export_int8_run(args: argparse.Namespace, g: Any, make_inputs: Any, meta: dict[str, Any], out: Path) -> dict:
    """Shrink (if channels were pruned), quantize behind the gate, annotate; returns the export's JSON payload.
    Raises :class:`gancompress.export.int8_gate.Int8QualityError` (its report written beside ``out``) on refusal."""
    from dataclasses import replace

    from gancompress.cli.deployment import physical_copy
    from gancompress.cli.evaluate import make_evaluator
    from gancompress.config import RunCfg
    from gancompress.data import load_dataset
    from gancompress.export.int8_gate import Int8QualityError, export_int8
    from gancompress.export.onnx import annotate_for_deploy
    from gancompress.export.quantize import Int8Cfg
    from gancompress.rundir import run_config

    cfg_int8 = Int8Cfg(
        fmt=args.int8_format, runtime=args.int8_runtime, calib_batches=args.calib_batches,
        calib_batch_size=args.calib_batch_size,
    )  # fmt: skip
    run = Path(args.run)
    cfg = run_config(run) if (run / "config.json").exists() else None
    if args.data:
        base = cfg or RunCfg()
        cfg = replace(base, data=replace(base.data, name=args.data, data_dir=args.data_dir))
    if args.num_samples is not None and cfg is not None:
        cfg = replace(cfg, eval=replace(cfg.eval, num_samples=args.num_samples))
    loss = meta["loss"]
    if cfg is None and not args.no_quality_gate:
        raise UserError(f"{run} has no config.json, so its dataset is unknown: pass --data (or --no-quality-gate)")
    evaluator = None
    if cfg is not None:
        train = load_dataset(cfg.data, "train")
        loss.bind_eval_data(train)  # calibration draws training inputs; the gate scores on the held-out split
        if not args.no_quality_gate:
            evaluator = make_evaluator(replace(cfg, device="cpu"))
    small, removal = g, None
    if any(name.endswith("weight_mask") for name, _ in g.named_buffers()):
        small, report, diff = physical_copy(g, lambda n: make_inputs(n, 0))
        removal = {"channels": report.get("channels"), "max_abs_diff": diff}
    try:
        res = export_int8(small, make_inputs, out, evaluator=evaluator, loss=loss, cfg=cfg_int8,
                          tolerance=args.int8_tolerance, opset=args.opset, threads=args.threads)  # fmt: skip
    except Int8QualityError as exc:
        _write(out.with_suffix(".json"), {"run": str(run), "refused": str(exc), **exc.report})
        raise
    info = {"family": meta["family"], "int8": True, "runtime": args.int8_runtime, "source_run": str(run)}
    inputs_file = annotate_for_deploy(out, make_inputs(64, 0), info)
    payload = {"run": str(run), "format": "onnx-int8", "path": str(out), "size_bytes": out.stat().st_size,
               "physical": removal, "sample_inputs": str(inputs_file), **res}  # fmt: skip
    _write(out.with_suffix(".json"), payload)
    return payload


def _write(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def summary(payload: dict[str, Any]) -> str:
    acc, fp32 = payload["accepted"], payload["fp32"]
    lines = [f"int8 ONNX → {payload['path']} ({payload['size_bytes']} bytes, {acc['size_ratio']:.2f}× the fp32 file)"]
    if "fid_ratio" in acc:
        lines.append(f"quality gate: FID {acc['fid']:.4g} vs fp32 {fp32['fid']:.4g} ({acc['fid_ratio']:.3f}×, "
                     f"tolerance {1 + payload['tolerance']:.2f}×) — {acc['label']}")  # fmt: skip
    else:
        lines.append(f"quality gate off: max |int8 - fp32| {acc['max_abs_diff_vs_fp32']:.3g} ({acc['label']})")
    report = Path(payload["path"]).with_suffix(".json")
    lines.append(f"int8 layers: {acc['int8_nodes']}/{acc['weighted_nodes']}; report {report}")
    return "\n".join(lines)
