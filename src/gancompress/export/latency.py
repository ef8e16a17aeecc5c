"""The interleaved latency harness: eager / native-kernel / ``torch.compile`` / ONNX Runtime, fixed threads, medians.

docs/architecture.md "Speed and scale": fp32 on CPU, fixed threads, warm-up, medians of interleaved A/B rounds — never
a timed assertion. :func:`compare` turns a dense / pruned pair into the ideal MAC ratio, the measured speed-up and their
ratio (the target we hold a physically filter-pruned generator to: measured ≥ 0.8 × ideal; docs/deploy.md).
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.export.onnx import ort_session, to_numpy, write_onnx
from gancompress.export.threads import torch_threads
from gancompress.pruning.counting import eval_mode

log = logging.getLogger(__name__)

BACKENDS = ("eager", "eager_native", "compile", "onnx", "onnx_int8", "openvino", "openvino_int8")


def _runner(model: nn.Module, backend: str, threads: int, onnx_path: Path, example: tuple[Tensor, ...]) -> Callable:
    """A callable ``fn(inputs)`` running ``model`` under ``backend`` (``onnx`` takes numpy inputs)."""
    if backend == "eager":
        return lambda inputs: model(*inputs)
    if backend == "eager_native":
        # PyTorch's native CPU kernels instead of oneDNN: much faster for thin layers (a 1-channel output
        # ConvTranspose2d at batch 64 measured 1.97 → 0.46 ms here), which dominate a channel-pruned generator.
        def run_native(inputs: tuple[Tensor, ...]) -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch warns about TF32 on every flags() switch
                with torch.backends.mkldnn.flags(enabled=False):
                    return model(*inputs)

        return run_native
    if backend == "compile":
        compiled = torch.compile(model, dynamic=False)  # built once per model; one static graph per batch size
        return lambda inputs: compiled(*inputs)
    runtime = "openvino" if backend.startswith("openvino") else "onnxruntime"
    if backend.endswith("_int8"):  # export --int8's model for this runtime (export/quantize.py), no quality gate
        from gancompress.export.quantize import Int8Cfg, calibration_feeds, quantize_onnx
        from gancompress.export.subpixel import rewrite_conv_transpose

        fp32_path = onnx_path.with_suffix(".fp32.onnx")
        plain = runtime == "openvino"  # OpenVINO has int8 ConvTranspose kernels: no rewrite (docs/deploy.md "Int8")
        names = write_onnx(model if plain else rewrite_conv_transpose(model)[0], example, fp32_path, opset=17)
        # timing does not depend on the calibrated ranges: the example batch calibrates (export uses 8 batches)
        cfg = Int8Cfg(calib_batches=1, runtime=runtime)
        quantize_onnx(fp32_path, onnx_path, calibration_feeds(names, [example]), cfg)
    else:
        names = write_onnx(model, example, onnx_path, opset=17)
    if runtime == "openvino":
        from gancompress.export.openvino_runtime import openvino_runner

        run = openvino_runner(onnx_path, threads)
        return lambda inputs: run(dict(zip(names, inputs, strict=True)))
    session = ort_session(onnx_path, threads)
    return lambda inputs: session.run(None, dict(zip(names, inputs, strict=True)))


def thread_contention(threads: int, calls: int = 20) -> float:
    """How much slower a small convolution runs on ``threads`` threads than on one (restores the thread count).

    Near or below 1 on an idle machine; far above 1 (e.g. 100×) when other jobs hold the cores: every OpenMP
    parallel region then waits for all its threads to be scheduled, and latencies measure the scheduler, not the model.
    """
    times: list[float] = []
    x, w = torch.randn(1, 32, 32, 32), torch.randn(32, 32, 3, 3)
    conv = lambda _: torch.conv2d(x, w, padding=1)  # noqa: E731
    with torch_threads(None), torch.inference_mode():
        for n in (1, threads, 1, threads):  # alternate, like the harness
            torch.set_num_threads(n)
            times.append(statistics.median(_measure(conv, None, 1, 0)[0] for _ in range(calls)))
    return (times[1] + times[3]) / (times[0] + times[2])


def _measure(fn: Callable, inputs: Any, iters: int | None, min_time_ms: float) -> tuple[float, int]:
    """(ms per call, calls): ``iters`` calls, or as many as fit in ``min_time_ms`` (adapts to a machine's load)."""
    n, start = 0, time.perf_counter()
    while True:
        fn(inputs)
        n += 1
        elapsed = (time.perf_counter() - start) * 1e3
        if (n >= iters) if iters else (elapsed >= min_time_ms):
            return elapsed / n, n


def benchmark_latency(
    models: Mapping[str, nn.Module],
    make_inputs: Callable[[int], tuple[Tensor, ...]] | Mapping[str, Callable[[int], tuple[Tensor, ...]]],
    *,
    batch_sizes: Sequence[int] = (1, 64),
    backends: Sequence[str] = BACKENDS,
    threads: int = 2,
    warmup: int = 3,
    rounds: int = 7,
    iters: int | None = None,
    min_time_ms: float = 40.0,
    compile_budget_s: float = 300.0,
) -> list[dict[str, Any]]:
    """Median latency per (model, backend, batch) from interleaved rounds (A, B, C, A, B, C, …).

    Each round times every (backend, batch, model) cell once, the model order rotating from round to round, so slow
    drifts of a shared machine hit all models alike. A cell's measurement is the mean time per call over ``iters``
    calls (or ``min_time_ms``); the row reports the median and 10th / 90th percentiles over rounds and the median
    number of calls per measurement (``iters``). Models run in eval mode under ``inference_mode``.

    Args:
        models: ``{name: module}``; modes are restored afterwards.
        make_inputs: ``batch -> inputs`` for ``model(*inputs)``, or one such function per model name.
        batch_sizes: Batch sizes to time.
        backends: Any of ``eager``, ``compile`` (``torch.compile``; skipped with a note when it fails, or for the
            remaining models once compiling took longer than ``compile_budget_s``), ``onnx`` (ONNX Runtime, exported
            with a dynamic batch axis; skipped with a note if export fails), ``onnx_int8`` (``export --int8``'s model:
            ConvTranspose rewritten, ONNX Runtime static QDQ int8, calibrated on the example batch; no quality gate),
            ``openvino`` (the fp32 ONNX on OpenVINO) and ``openvino_int8`` (``export --int8 --int8-runtime openvino``'s
            model: no rewrite, on OpenVINO; one static compiled model per batch size).
        threads: ``torch.set_num_threads`` and ORT ``intra_op_num_threads`` (restored afterwards).
        warmup: Untimed calls per cell before the rounds (the first ``compile`` call compiles).
        rounds: Timed rounds.
        iters: Calls per measurement; ``None``: as many as fit in ``min_time_ms`` (robust to a warm-up that happened
            to run while the machine was busy).
        min_time_ms: Duration of one measurement when ``iters`` is ``None``.
        compile_budget_s: Total compile time after which ``compile`` is skipped for the remaining models.

    Returns:
        Rows ``{model, backend, batch, median_ms, p10_ms, p90_ms, iters, rounds, file_bytes, note}`` (``file_bytes``:
        the ONNX backends' model file); a skipped cell has
        ``median_ms=None`` and says why in ``note``.

    Example:
        >>> rows = benchmark_latency({"g": nn.Linear(8, 8)}, lambda b: (torch.randn(b, 8),), backends=("eager",),
        ...                          batch_sizes=(1,), rounds=1, warmup=1)
        >>> {"backend", "batch", "iters", "median_ms"} <= set(rows[0])
        True
    """
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise UserError(f"unknown backend(s) {', '.join(unknown)}; valid: {', '.join(BACKENDS)}")
    if rounds < 1 or warmup < 0 or any(b < 1 for b in batch_sizes):
        raise UserError("rounds must be >= 1, warmup >= 0 and every batch size >= 1")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load + threads > (os.cpu_count() or 1) + 0.5:
        log.warning("load average %.1f on %d cores: timings with %d threads are noisy", load, os.cpu_count(), threads)
    slowdown = thread_contention(threads) if threads > 1 else 1.0
    if slowdown > 2.0:
        log.warning(
            "a convolution runs %.0f× slower on %d threads than on 1: the cores are busy, so PyTorch latencies with "
            "%d threads measure thread scheduling, not the model; use threads=1 or an idle machine",
            slowdown, threads, threads,
        )  # fmt: skip
    inputs_fn = make_inputs if isinstance(make_inputs, Mapping) else dict.fromkeys(models, make_inputs)
    with torch_threads(threads), ExitStack() as stack:
        for model in models.values():
            stack.enter_context(eval_mode(model))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gancompress-bench-")))
        stack.enter_context(torch.inference_mode())
        if "compile" in backends:  # dense/masked/physical share one forward: room for all their static graphs
            limit = max(torch._dynamo.config.recompile_limit, 2 * len(models) * len(batch_sizes))
            stack.enter_context(torch._dynamo.config.patch(recompile_limit=limit))
        inputs = {(n, b): tuple(inputs_fn[n](b)) for n in models for b in batch_sizes}
        cells, notes, sizes = _prepare(models, inputs, backends, batch_sizes, threads, warmup, tmp, compile_budget_s)
        names = list(models)
        samples: dict[tuple[str, str, int], list[float]] = {k: [] for k in cells}
        calls: dict[tuple[str, str, int], list[int]] = {k: [] for k in cells}
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
            for b in batch_sizes:
                for backend in backends:
                    for key in [(name, backend, b) for name in order if (name, backend, b) in cells]:
                        ms, n = _measure(*cells[key], iters, min_time_ms)
                        samples[key].append(ms)
                        calls[key].append(n)
    rows = []
    for name in models:
        for backend in backends:
            for b in batch_sizes:
                times = samples.get((name, backend, b))
                row: dict[str, Any] = dict.fromkeys(("median_ms", "p10_ms", "p90_ms"))
                row = {"model": name, "backend": backend, "batch": b, **row, "iters": 0, "rounds": 0}
                if times:
                    p10, p90 = np.percentile(times, [10, 90])
                    row.update(median_ms=statistics.median(times), p10_ms=float(p10), p90_ms=float(p90))
                    row.update(iters=int(statistics.median(calls[name, backend, b])), rounds=len(times))
                row["file_bytes"] = sizes.get((name, backend))
                rows.append({**row, "note": notes.get((name, backend))})
    return rows


def _prepare(
    models: Mapping[str, nn.Module],
    inputs: Mapping[tuple[str, int], tuple[Tensor, ...]],
    backends: Sequence[str],
    batch_sizes: Sequence[int],
    threads: int,
    warmup: int,
    tmp: Path,
    compile_budget_s: float,
) -> tuple[dict[tuple[str, str, int], tuple[Callable, Any]], dict[tuple[str, str], str], dict[tuple[str, str], int]]:
    """Build and warm up every (model, backend, batch) cell: ``{cell: (fn, feed)}``, skip notes, ONNX file sizes."""
    cells: dict[tuple[str, str, int], tuple[Callable, Any]] = {}
    notes: dict[tuple[str, str], str] = {}
    sizes: dict[tuple[str, str], int] = {}
    compile_s = 0.0
    for backend in backends:
        for i, (name, model) in enumerate(models.items()):
            if backend == "compile" and compile_s > compile_budget_s:
                notes[name, backend] = f"skipped: torch.compile took {compile_s:.0f} s > budget {compile_budget_s:g} s"
                continue
            start = time.perf_counter()
            try:
                path = tmp / f"{i}_{backend}.onnx"
                fn = _runner(model, backend, threads, path, inputs[name, batch_sizes[0]])
                if path.exists():  # the ONNX backends' model files: int8 is judged on size too
                    sizes[name, backend] = path.stat().st_size
                for b in batch_sizes:
                    numpy_in = backend.startswith(("onnx", "openvino"))
                    feed = to_numpy(inputs[name, b]) if numpy_in else inputs[name, b]
                    _measure(fn, feed, 1 + warmup, 0.0)  # the first call compiles / initialises
                    cells[name, backend, b] = (fn, feed)
            except Exception as exc:  # a backend that cannot run this model is reported, not fatal
                notes[name, backend] = "skipped: " + _why(exc)
                log.warning("%s on %s %s", name, backend, notes[name, backend])
                for b in batch_sizes:
                    cells.pop((name, backend, b), None)
            if backend == "compile":
                compile_s += time.perf_counter() - start
    return cells, notes, sizes


def _why(exc: BaseException) -> str:
    """One line on why a backend could not run: a missing optional package names the install that adds it."""
    missing = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
    if missing == "openvino":
        return "openvino is not installed (pip install 'gancompress[openvino]')"
    if missing in ("onnx", "onnxruntime", "onnxscript"):
        return f"{missing} is not installed (pip install 'gancompress[export]')"
    if isinstance(exc, UserError):  # already a message for the user (e.g. deploy's own install hint)
        return str(exc)
    msg = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {msg}"


# ------------------------------------------------------------------------------------------------------ comparing
def compare(dense: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, float | None]:
    """Ideal vs measured speed-up of ``candidate`` over ``dense``.

    Args:
        dense: ``{"macs": ..., "median_ms": ...}`` of the dense reference (``median_ms`` optional).
        candidate: ``{"macs"/"effective_macs": ..., "median_ms": ...}`` of the pruned model.

    Returns:
        ``ideal_mac_ratio`` = dense MACs / candidate effective MACs, ``speedup`` = dense ms / candidate ms and
        ``measured_over_ideal`` (``None`` where a latency is missing).

    Example:
        >>> compare({"macs": 100, "median_ms": 4.0}, {"effective_macs": 25, "median_ms": 2.0})
        {'ideal_mac_ratio': 4.0, 'speedup': 2.0, 'measured_over_ideal': 0.5}
    """
    cand_macs = candidate.get("effective_macs", candidate.get("macs"))
    ideal = dense["macs"] / cand_macs if cand_macs else None
    d_ms, c_ms = dense.get("median_ms"), candidate.get("median_ms")
    speedup = d_ms / c_ms if d_ms and c_ms else None
    ratio = speedup / ideal if speedup and ideal else None
    return {"ideal_mac_ratio": ideal, "speedup": speedup, "measured_over_ideal": ratio}


def add_speedups(
    rows: Sequence[dict[str, Any]], stats: Mapping[str, Mapping[str, Any]], reference: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Rows from :func:`benchmark_latency` with :func:`compare` against each model's reference (same backend, batch).

    Args:
        rows: Latency rows.
        stats: ``{model: model_stats(...)}`` (per-sample MACs).
        reference: ``{model: dense reference model}``; models without one get ``None`` entries.
    """
    index = {(r["model"], r["backend"], r["batch"]): r for r in rows}
    out = []
    for row in rows:
        ref = reference.get(row["model"])
        cmp: dict[str, float | None] = dict.fromkeys(("ideal_mac_ratio", "speedup", "measured_over_ideal"))
        if ref is not None and ref in stats and row["model"] in stats:
            dense = {**stats[ref], "median_ms": index.get((ref, row["backend"], row["batch"]), {}).get("median_ms")}
            cmp = compare(dense, {**stats[row["model"]], "median_ms": row["median_ms"]})
        out.append({**row, "reference": ref, **cmp, **_int8_ratios(row, index, ref)})
    return out


def _int8_ratios(row: Mapping[str, Any], index: Mapping[tuple, Mapping[str, Any]], ref: str | None) -> dict[str, Any]:
    """For an int8 row (either runtime): speed-up and file-size ratio over the same model's fp32 ONNX Runtime row
    (``onnx``, the baseline a user deploys otherwise), and the end-to-end speed-up over the dense reference's fp32
    ONNX Runtime row (channel removal × int8)."""
    if not row["backend"].endswith("_int8") or not row["median_ms"]:
        return {}
    fp32 = index.get((row["model"], "onnx", row["batch"]), {})
    dense = index.get((ref, "onnx", row["batch"]), {}) if ref else {}
    ratio = lambda a, b: a / b if a and b else None  # noqa: E731
    return {
        "int8_speedup_vs_fp32": ratio(fp32.get("median_ms"), row["median_ms"]),
        "int8_size_vs_fp32": ratio(row.get("file_bytes"), fp32.get("file_bytes")),
        "speedup_vs_dense_fp32": ratio(dense.get("median_ms"), row["median_ms"]),
    }
