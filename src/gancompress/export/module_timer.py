"""Seconds per call of one module on one backend, timed in isolation: the primitive of the per-layer latency table.

docs/deploy.md "Latency table and speed targets". ``eager`` calls the module (the caller sets torch's threads);
``onnxruntime`` exports it to ONNX (a lone layer in memory) and runs a session on ``threads`` intra-op threads.
A warm-up (at least 3 calls and ``2 · min_sample_s``) comes first; the result is the median of ``repeats`` samples,
each the mean of as many calls as fit in ``min_sample_s``.

Example:
    >>> time_it = module_timer("eager", threads=1, repeats=3, min_sample_s=0.001)
    >>> time_it(nn.Linear(8, 8), (torch.randn(2, 8),)) > 0
    True
"""

from __future__ import annotations

import io
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gancompress.export.onnx import ort_session, to_numpy, write_onnx

LAYER_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
Timer = Callable[[nn.Module, tuple[Tensor, ...]], float]  # (module, inputs) -> seconds per call


def minus(time_fn: Timer, floor: float) -> Timer:
    """``time_fn`` less a fixed per-call cost (at least 0)."""
    return lambda module, inputs: max(time_fn(module, inputs) - floor, 0.0)


def module_timer(backend: str, threads: int, repeats: int, min_sample_s: float) -> Timer:
    """``(module, inputs) -> seconds per call`` on ``backend`` (see the module docstring)."""

    def time_it(module: nn.Module, inputs: tuple[Tensor, ...]) -> float:
        fn = _onnx_runner(module, inputs, threads) if backend == "onnxruntime" else lambda: module(*inputs)
        calls, start = 0, time.perf_counter()
        while calls < 3 or time.perf_counter() - start < 2 * min_sample_s:  # warm-up: allocations, caches
            fn()
            calls += 1
        per_call = (time.perf_counter() - start) / calls
        n = max(1, min(1000, math.ceil(min_sample_s / max(per_call, 1e-7))))
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples.append((time.perf_counter() - start) / n)
        return statistics.median(samples)

    return time_it


def _onnx_runner(module: nn.Module, inputs: tuple[Tensor, ...], threads: int) -> Callable[[], Any]:
    """An ONNX Runtime session running ``module``: a lone layer exported in memory, a whole model via
    :func:`write_onnx` (which bakes parametrizations such as spectral norm in)."""
    if isinstance(module, LAYER_TYPES):
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            torch.onnx.export(module, inputs, buf, dynamo=False, opset_version=17, input_names=["input"])
        session, names = ort_session(buf.getvalue(), threads), ["input"]
    else:
        with tempfile.TemporaryDirectory(prefix="gancompress-table-") as tmp:
            names = write_onnx(module, inputs, Path(tmp) / "model.onnx", opset=17)
            session = ort_session(Path(tmp) / "model.onnx", threads)
    feed = dict(zip(names, to_numpy(inputs), strict=True))
    return lambda: session.run(None, feed)
