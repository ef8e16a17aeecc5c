"""Static int8 quantization of an exported generator with ONNX Runtime, and the ONNX model as a scoreable module.

Why ONNX Runtime's quantizer (QDQ, per-channel int8 weights, uint8 activations): its output is one standard ONNX file
that both ONNX Runtime (the torch-free default, examples/infer_onnx.py) and OpenVINO run as int8. PyTorch's x86 int8
backend was slower than ONNX Runtime's and broke ConvTranspose outputs; OpenVINO (+ NNCF) was the fastest runtime at
batch 16, and it runs this same QDQ file as fast as NNCF's (docs/deploy.md "Int8"). ONNX Runtime's ``QLinearConv``
covers ``Conv`` but ``ConvTranspose`` has no int8 kernel, so for ONNX Runtime the fp32 model is first rewritten
(export/subpixel.py) — every upsampling layer becomes a ``Conv`` + ``DepthToSpace``; for OpenVINO it is not.

Activations are calibrated on the generator's own inputs (``sample_input``: latents, or source images drawn from the
data for translation families), ``calib_batches`` batches (docs/deploy.md "Int8": 8 × 16 by default), min-max ranges:
generator activations are bounded (tanh output, normalised features), so clipping outliers (percentile, entropy) buys
little and costs the calibrator's histograms.

Example:
    >>> weighted_nodes(onnx_model)[:1]  # doctest: +SKIP
    ['/net/net.0/ConvTranspose']
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gancompress.errors import UserError

log = logging.getLogger(__name__)

#: ops with weights, in the order a layer's sensitivity is judged (the first and last of them are the fallback)
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
#: weighted ONNX ops each runtime runs with int8 kernels (QDQ node units it fuses); the rest compute in fp32
INT8_OPS = {"onnxruntime": ("Conv", "Gemm", "MatMul"), "openvino": ("Conv", "ConvTranspose", "Gemm", "MatMul")}


@dataclass(frozen=True)
class Int8Cfg:
    """How to quantize (the CLI's ``--int8-*`` flags; defaults chosen in docs/deploy.md "Int8")."""

    fmt: str = "qdq"  # qdq | qoperator
    runtime: str = "onnxruntime"  # the runtime the model is made for and scored on: onnxruntime | openvino
    per_channel: bool = True
    calib_batches: int = 8
    calib_batch_size: int = 16
    exclude: tuple[str, ...] = field(default_factory=tuple)  # ONNX node names kept fp32

    def __post_init__(self) -> None:
        if self.fmt not in ("qdq", "qoperator"):
            raise UserError(f"int8 format must be qdq or qoperator, got {self.fmt!r}")
        if self.runtime not in ("onnxruntime", "openvino"):
            raise UserError(f"int8 runtime must be onnxruntime or openvino, got {self.runtime!r}")
        if self.runtime == "openvino" and self.fmt != "qdq":
            raise UserError("OpenVINO reads int8 ONNX models in QDQ form: use --int8-format qdq with openvino")
        if self.calib_batches < 1 or self.calib_batch_size < 1:
            raise UserError("int8 calibration needs at least one batch of at least one input")


def _onnx() -> Any:
    try:
        import onnx
        import onnxruntime.quantization  # noqa: F401  (checked here: the error names the extra to install)
    except ImportError:
        raise UserError("int8 export needs onnx and onnxruntime; pip install 'gancompress[export]'") from None
    return onnx


def weighted_nodes(model: Any) -> list[str]:
    """Names of the nodes that carry weights (``WEIGHTED_OPS``), in graph (topological) order."""
    return [n.name for n in model.graph.node if n.op_type in WEIGHTED_OPS]


def op_histogram(path: str | Path) -> dict[str, int]:
    """``{op_type: count}`` of the model at ``path``."""
    return dict(Counter(n.op_type for n in _onnx().load(str(path)).graph.node))


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._it = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:  # part of the protocol; one pass is all min-max calibration needs
        pass


def quantize_onnx(
    fp32: str | Path, out: str | Path, feeds: Sequence[dict[str, np.ndarray]], cfg: Int8Cfg = Int8Cfg()
) -> dict[str, Any]:
    """Quantize the fp32 ONNX model ``fp32`` into ``out`` (static: ``feeds`` calibrate the activations).

    Returns ``{"path", "size_bytes", "format", "excluded", "int8_nodes", "fp32_weighted", "ops"}``: ``int8_nodes``
    counts the weighted nodes that run int8 kernels; ``fp32_weighted`` names the others and why (excluded, or an op
    such as ConvTranspose that has no int8 kernel and only stores int8 weights).
    """
    onnx = _onnx()
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(fp32))
    names = weighted_nodes(model)
    unknown = [n for n in cfg.exclude if n not in {x.name for x in model.graph.node}]
    if unknown:
        raise UserError(f"int8: no node named {unknown[0]!r} in {fp32}; weighted nodes: {', '.join(names)}")
    with tempfile.TemporaryDirectory(prefix="gancompress-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:  # shape inference + graph cleanup ONNX Runtime recommends before static quantization
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        except Exception as exc:  # a model pre-processing rejects still quantizes without it
            log.warning("int8: ONNX pre-processing failed (%s); quantizing the model as exported", exc)
            pre = Path(fp32)
        try:
            with _root_warnings_to_debug():
                quantize_static(
                    str(pre), str(out), _Reader(feeds),
                    quant_format=QuantFormat.QDQ if cfg.fmt == "qdq" else QuantFormat.QOperator,
                    per_channel=cfg.per_channel, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=list(cfg.exclude),
                    op_types_to_quantize=None,
                )  # fmt: skip
        except Exception as exc:  # name the op ONNX Runtime's quantizer stopped at
            raise UserError(f"int8 quantization failed: {_first_line(exc)}") from None
    quantized = onnx.load(str(out))
    ops = dict(Counter(n.op_type for n in quantized.graph.node))
    int8 = _int8_weighted(quantized, names)
    op = {n.name: n.op_type for n in model.graph.node}
    fp32_left = {
        n: "excluded" if n in cfg.exclude else f"{op[n]}: left fp32 by the quantizer" for n in names if n not in int8
    }
    # int8 weights on an op without an int8 kernel (ConvTranspose) save storage only: ONNX Runtime dequantizes them
    kernels = INT8_OPS[cfg.runtime]
    fp32_left.update({n: f"{op[n]}: int8 storage, fp32 compute" for n in int8 if op[n] not in kernels})
    return {
        "path": str(out), "size_bytes": out.stat().st_size, "format": cfg.fmt, "per_channel": cfg.per_channel,
        "excluded": list(cfg.exclude), "int8_nodes": sum(op[n] in kernels for n in int8), "weighted_nodes": len(names),
        "fp32_weighted": fp32_left, "ops": ops,
    }  # fmt: skip


class _RootToDebug(logging.Filter):
    """Drops the quantizer's root-logger warnings from the user's console, keeping them at DEBUG on ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "root" and record.levelno < logging.ERROR:
            log.debug("onnxruntime quantizer: %s", record.getMessage())
            return False
        return True


@contextmanager
def _root_warnings_to_debug() -> Iterator[None]:
    """While ONNX Runtime's quantizer runs: it warns through the *root* logger about benign cases (per-channel axis
    asked of a 1-d InstanceNorm scale), which would read as a problem with the model; the quality gate judges it."""
    handlers, quiet = list(logging.getLogger().handlers), _RootToDebug()
    for h in handlers:
        h.addFilter(quiet)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(quiet)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _int8_weighted(quantized: Any, names: Iterable[str]) -> set[str]:
    """The weighted nodes whose weights were quantized: in QDQ their weight input comes from a DequantizeLinear of
    an int8 initializer; in QOperator they became QLinear*/QGemm/MatMulInteger nodes (named ``<name>_quant``; a Gemm
    becomes com.microsoft's QGemm, which the QLinear prefix misses)."""
    produced_by = {o: n for n in quantized.graph.node for o in n.output}
    found = set()
    for n in quantized.graph.node:
        base = n.name[: -len("_quant")] if n.name.endswith("_quant") else n.name
        if base not in names:
            continue
        qoperator = n.op_type.startswith("QLinear") or n.op_type in ("QGemm", "MatMulInteger", "ConvInteger")
        weight = produced_by.get(n.input[1]) if len(n.input) > 1 else None
        if qoperator or (weight is not None and weight.op_type == "DequantizeLinear"):
            found.add(base)
    return found


def calibration_feeds(names: Sequence[str], batches: Iterable[Sequence[Tensor]]) -> list[dict[str, np.ndarray]]:
    """ONNX Runtime feeds (``{input name: array}``) from batches of generator inputs."""
    return [{n: t.detach().cpu().contiguous().numpy() for n, t in zip(names, batch, strict=True)} for batch in batches]


class OnnxGenerator(nn.Module):
    """An ONNX model run by ONNX Runtime (or OpenVINO: ``runtime``) behind the ``nn.Module`` call the evaluator makes
    (``g(*inputs)``), so the int8 and fp32 exports are scored by the same :class:`gancompress.evaluate.Evaluator` as
    any generator."""

    def __init__(self, path: str | Path, threads: int = 1, runtime: str = "onnxruntime") -> None:
        super().__init__()
        from gancompress.export.openvino_runtime import runner

        self.path, self.runtime = str(path), runtime
        self.input_names = [i.name for i in _onnx().load(str(path)).graph.input]
        self.run = runner(path, threads, runtime)

    def forward(self, *inputs: Tensor) -> Tensor:
        feeds = {n: t.detach().cpu().contiguous().numpy() for n, t in zip(self.input_names, inputs, strict=True)}
        out = self.run(feeds)[0]
        device = inputs[0].device if inputs else torch.device("cpu")
        return torch.from_numpy(np.ascontiguousarray(out)).to(device)
