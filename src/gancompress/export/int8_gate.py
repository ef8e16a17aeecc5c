"""Int8 export behind a quality gate: quantize, score the int8 model with the same evaluator as fp32, fall back.

A quantized generator can look wrong while its tensors look close (the first layer sees raw latents or pixels, the
last one feeds tanh), so an int8 model is only written once it passes: its FID may rise at most ``tolerance`` (5 %)
over the fp32 export's, scored with the same evaluator, inputs and seed. If it fails, the weighted layers most
sensitive to quantization — the first and the last — stay fp32 and it is quantized again; if that fails too, the
export refuses and the error gives the numbers (docs/deploy.md "Int8").

Example:
    >>> report = export_int8(g, make_inputs, "g.int8.onnx", evaluator=ev, loss=loss)  # doctest: +SKIP
    >>> report["accepted"]["fid_ratio"] <= 1.05                                          # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.export.onnx import export_onnx, write_onnx
from gancompress.export.quantize import Int8Cfg, OnnxGenerator, calibration_feeds, quantize_onnx, weighted_nodes
from gancompress.export.subpixel import rewrite_conv_transpose
from gancompress.pruning.counting import eval_mode

log = logging.getLogger(__name__)

#: scores copied from each evaluation into the report (whichever the family has)
REPORTED = ("fid", "kid", "psnr", "ssim", "target_accuracy", "class_coverage", "fidelity_psnr", "fidelity_ssim",
            "fidelity_l1", "fidelity_mse")  # fmt: skip


class Int8QualityError(UserError):
    """No int8 model passed the quality gate; ``report`` holds every attempt's numbers."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


def calibration_batches(
    make_inputs: Callable[[int, int], tuple[Tensor, ...]], cfg: Int8Cfg
) -> list[tuple[Tensor, ...]]:
    """``cfg.calib_batches`` batches of ``cfg.calib_batch_size`` generator inputs, each from its own seed (batch
    ``i`` uses seed ``1000 + i``: distinct from the evaluation's sampling seeds)."""
    return [make_inputs(cfg.calib_batch_size, 1000 + i) for i in range(cfg.calib_batches)]


def _scores(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(metrics[k]) for k in REPORTED if isinstance(metrics.get(k), (int, float))}


def fallback_ladder(fp32_path: Path, first_last: bool = True) -> list[tuple[str, tuple[str, ...]]]:
    """The attempts in order: all weighted layers int8, then the first and last kept fp32."""
    import onnx

    names = weighted_nodes(onnx.load(str(fp32_path)))
    ladder: list[tuple[str, tuple[str, ...]]] = [("all int8", ())]
    if first_last and len(names) > 2:
        ladder.append(("first and last layer fp32", (names[0], names[-1])))
    return ladder


def export_int8(
    g: nn.Module,
    make_inputs: Callable[[int, int], tuple[Tensor, ...]],
    out: str | Path,
    *,
    evaluator: Any | None,
    loss: Any | None,
    cfg: Int8Cfg | None = None,
    tolerance: float = 0.05,
    opset: int = 17,
    seed: int = 0,
    metrics: Sequence[str] = ("fid", "fidelity"),
    threads: int = 1,
) -> dict[str, Any]:
    """Write the int8 ONNX model of ``g`` to ``out`` if it passes the gate; return the report.

    Args:
        g: The generator (physically shrunk already if channels were pruned; masks are baked in by the export).
        make_inputs: ``(batch, seed) -> inputs`` of ``g`` (the family's ``sample_input``).
        out: The int8 ``.onnx`` file.
        evaluator: A :class:`gancompress.evaluate.Evaluator`; ``None`` skips the FID gate (fidelity to fp32 on
            sample inputs is still measured and reported).
        loss: The family's GanLoss (evaluation inputs), required with ``evaluator``.
        cfg: Quantization settings; ``cfg.exclude`` is kept fp32 in every attempt.
        tolerance: Largest allowed relative FID rise over fp32.

    Raises:
        Int8QualityError: No attempt passed (the message gives each attempt's FID ratio).
    """
    if not 0 <= tolerance < 10:
        raise UserError(f"--int8-tolerance must be in [0, 10), got {tolerance}")
    if evaluator is not None and loss is None:
        raise UserError("the int8 quality gate needs the family's loss to draw evaluation inputs")
    cfg = cfg or Int8Cfg()
    out = Path(out)
    report: dict[str, Any] = {"config": asdict(cfg), "tolerance": tolerance, "attempts": []}
    with tempfile.TemporaryDirectory(prefix="gancompress-int8-") as tmp:
        # ONNX Runtime has no int8 ConvTranspose: rewrite them (subpixel.py); OpenVINO has one, and the plain model
        # keeps the smaller file
        rewritten, count = rewrite_conv_transpose(g) if cfg.runtime == "onnxruntime" else (g, 0)
        with torch.no_grad(), eval_mode(g):
            probe = make_inputs(4, 0)
            rewrite_diff = float((rewritten(*probe) - g(*probe)).abs().max())
        report["rewrite"] = {"conv_transpose_rewritten": count, "max_abs_diff": rewrite_diff}
        fp32_path = Path(tmp) / "fp32.onnx"
        fp32 = export_onnx(rewritten, make_inputs(2, 0), fp32_path, opset=opset)
        # the plain fp32 export (ConvTranspose kept) is what a user would deploy otherwise: sizes are judged against
        # it; the rewritten model's kernels carry zeros (subpixel.py) and are larger
        plain = Path(tmp) / "plain.onnx" if count else fp32_path  # nothing rewritten: it is the same file
        if count:
            write_onnx(g, make_inputs(2, 0), plain, opset)
        report["fp32"] = {"size_bytes": plain.stat().st_size, "rewritten_size_bytes": fp32["size_bytes"],
                          "max_abs_diff_vs_pytorch": fp32["max_abs_diff"]}  # fmt: skip
        names = fp32["inputs"]
        feeds = calibration_feeds(names, calibration_batches(make_inputs, cfg))
        report["calibration"] = {"batches": cfg.calib_batches, "batch_size": cfg.calib_batch_size,
                                 "method": "minmax", "inputs": "the generator's sample_input, seeds 1000+"}  # fmt: skip
        fp32_module = OnnxGenerator(fp32_path, threads)
        if evaluator is not None:
            report["fp32"].update(_scores(evaluator.evaluate(fp32_module, loss, metrics=tuple(metrics), seed=seed)))
        probe_feed = calibration_feeds(names, [make_inputs(64, 7)])[0]
        ref = fp32_module.run(probe_feed)[0]
        accepted = None
        for label, extra in fallback_ladder(fp32_path):
            attempt_cfg = replace(cfg, exclude=tuple(cfg.exclude) + extra)
            candidate = Path(tmp) / f"int8_{len(report['attempts'])}.onnx"
            q = quantize_onnx(fp32_path, candidate, feeds, attempt_cfg)
            int8_module = OnnxGenerator(candidate, threads, cfg.runtime)  # scored on the runtime it is made for
            got = int8_module.run(probe_feed)[0]
            attempt: dict[str, Any] = {
                "label": label, "excluded": list(attempt_cfg.exclude), "size_bytes": q["size_bytes"],
                "size_ratio": q["size_bytes"] / report["fp32"]["size_bytes"], "int8_nodes": q["int8_nodes"],
                "weighted_nodes": q["weighted_nodes"], "fp32_weighted": q["fp32_weighted"],
                "max_abs_diff_vs_fp32": float(abs(got - ref).max()),
            }  # fmt: skip
            if evaluator is not None:
                scores = _scores(evaluator.evaluate(int8_module, loss, teacher=fp32_module,
                                                    metrics=tuple(metrics), seed=seed))  # fmt: skip
                attempt.update(scores)
                if "fid" in scores and report["fp32"].get("fid"):
                    attempt["fid_ratio"] = scores["fid"] / report["fp32"]["fid"]
            attempt["passed"] = attempt.get("fid_ratio", 1.0) <= 1.0 + tolerance
            report["attempts"].append(attempt)
            log.info("int8 (%s): %s", label, _describe(attempt))
            if attempt["passed"]:
                accepted = (candidate, attempt)
                break
        if accepted is None:
            tried = "; ".join(f"{a['label']}: {_describe(a)}" for a in report["attempts"])
            raise Int8QualityError(
                f"int8 refused: FID rose more than {tolerance:.0%} over fp32 (FID {report['fp32'].get('fid', 0):.4g}) "
                f"in every attempt ({tried}); export fp32 instead, or raise --int8-tolerance",
                report,
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(accepted[0], out)
    report["accepted"] = {**accepted[1], "path": str(out)}
    report["gate"] = "fid" if evaluator is not None else "off (fidelity to fp32 only)"
    return report


def _describe(attempt: dict[str, Any]) -> str:
    parts = []
    if "fid_ratio" in attempt:
        parts.append(f"FID {attempt['fid']:.4g} = {attempt['fid_ratio']:.3f}× fp32")
    parts.append(f"max |int8 - fp32| {attempt['max_abs_diff_vs_fp32']:.3g}")
    parts.append(f"{attempt['int8_nodes']}/{attempt['weighted_nodes']} weighted layers int8")
    return ", ".join(parts)
