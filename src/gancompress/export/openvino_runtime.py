"""OpenVINO as a second runtime for the exported ONNX models (fp32 and the int8 QDQ model).

Why: on this CPU (VNNI, AMX) OpenVINO ran the same int8 QDQ ONNX file 1.8–3.4× faster than ONNX Runtime at batch
16 / 2 threads, and it has native int8 transposed convolutions, so an int8 model meant for OpenVINO needs no
ConvTranspose rewrite and keeps the smaller file (docs/deploy.md "Int8"). ``openvino`` is optional
(``pip install 'gancompress[openvino]'``); ONNX Runtime stays the default, torch-free path.

Precision: compiled with ``INFERENCE_PRECISION_HINT=f32`` — OpenVINO would otherwise run fp32 layers in bf16 on AMX
CPUs and the quality gate would score a model the user did not ask for.

Example:
    >>> run = openvino_runner("g.int8.onnx", threads=2)  # doctest: +SKIP
    >>> run({"input": z})[0].shape                        # doctest: +SKIP
    (16, 1, 32, 32)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gancompress.errors import UserError

RUNTIMES = ("onnxruntime", "openvino")


def _openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise UserError("the openvino runtime is not installed; pip install 'gancompress[openvino]'") from None
    return openvino


def openvino_runner(path: str | Path, threads: int) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    """``feeds -> outputs`` for the ONNX model at ``path`` on OpenVINO's CPU plugin, ``threads`` inference threads.

    One compiled model per input shape (static shapes run faster than a dynamic batch axis), built on first use."""
    ov = _openvino()
    core = ov.Core()
    model = core.read_model(str(path))
    names = [i.any_name for i in model.inputs]
    config = {"INFERENCE_NUM_THREADS": int(threads), "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    compiled: dict[tuple, Any] = {}

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        key = tuple(tuple(feeds[n].shape) for n in names)
        if key not in compiled:
            shaped = model.clone()
            shaped.reshape({n: list(s) for n, s in zip(names, key, strict=True)})
            request = core.compile_model(shaped, "CPU", config).create_infer_request()
            compiled[key] = request
        request = compiled[key]
        result = request.infer({n: feeds[n] for n in names})
        return [np.asarray(result[o]) for o in request.model_outputs]

    return run


def runner(path: str | Path, threads: int, runtime: str = "onnxruntime") -> Callable[..., list[np.ndarray]]:
    """``feeds -> outputs`` for the ONNX model at ``path`` on ``runtime`` (:data:`RUNTIMES`)."""
    if runtime == "openvino":
        return openvino_runner(path, threads)
    if runtime != "onnxruntime":
        raise UserError(f"unknown runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    from gancompress.export.onnx import ort_session

    session = ort_session(Path(path), threads)
    return lambda feeds: session.run(None, feeds)
