"""Deployment: MAC / parameter / size counting, an interleaved latency harness, ONNX export with a parity check.

DESIGN.md "Speed and scale": fp32 on CPU, fixed threads, warm-up, medians of interleaved A/B rounds. Masks alone
save no time (a zeroed weight costs the same in a dense kernel); real CPU speed comes from filter pruning + physical
channel removal (:mod:`gancompress.pruning.physical`), measured here under eager PyTorch, ``torch.compile`` and
ONNX Runtime.

Example:
    >>> import torch
    >>> from gancompress.models import create_model
    >>> g = create_model("dcgan_generator", nz=16, ngf=8)
    >>> count_macs(g, (torch.randn(1, 16),))
    303104
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.pruning import MASK_NAME, count_nonzero, count_parameters

log = logging.getLogger(__name__)

BACKENDS = ("eager", "eager_native", "compile", "onnx")


class ParityError(RuntimeError):
    """An exported model's outputs differ from PyTorch's by more than the tolerance."""


# ------------------------------------------------------------------------------------------------------ counting
@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (BatchNorm at batch 1) for the duration, then the caller's mode back."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes.items():
            m.training = training


def _weight_density(module: nn.Module) -> float:
    weight = module.weight.detach()
    mask = module._buffers.get(MASK_NAME)
    if mask is not None:
        weight = weight * mask
    return int(weight.count_nonzero()) / weight.numel() if weight.numel() else 0.0


def layer_macs(model: nn.Module, example_inputs: Sequence[Tensor]) -> list[dict[str, Any]]:
    """Per Conv2d / ConvTranspose2d / Linear call: ``name``, ``kind``, ``macs``, ``density`` (non-zero weights).

    MACs (bias and activations excluded) for one forward of ``example_inputs`` (batch included):
    Conv2d ``out.numel() · in/groups · kH · kW``; ConvTranspose2d ``in.numel() · out/groups · kH · kW`` (every input
    element is scattered through its kernel); Linear ``out.numel() · in_features``.
    """
    rows: list[dict[str, Any]] = []

    def hook(name: str) -> Callable[..., None]:
        def fn(mod: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> None:
            if isinstance(mod, nn.ConvTranspose2d):
                kh, kw = mod.kernel_size
                macs = inputs[0].numel() * (mod.out_channels // mod.groups) * kh * kw
            elif isinstance(mod, nn.Conv2d):
                kh, kw = mod.kernel_size
                macs = output.numel() * (mod.in_channels // mod.groups) * kh * kw
            else:
                macs = output.numel() * mod.in_features
            rows.append({"name": name, "kind": type(mod).__name__, "macs": int(macs), "density": _weight_density(mod)})

        return fn

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    handles = [m.register_forward_hook(hook(n)) for n, m in layers]
    try:
        with _eval_mode(model), torch.no_grad():
            model(*example_inputs)
    finally:
        for h in handles:
            h.remove()
    return rows


def count_macs(model: nn.Module, example_inputs: Sequence[Tensor]) -> int:
    """Dense multiply-accumulates of one forward of ``example_inputs`` (pass batch 1 for per-sample MACs).

    Example:
        >>> count_macs(nn.Conv2d(3, 8, 3, padding=1), (torch.randn(1, 3, 4, 4),))  # 8·4·4 outputs × 3·3·3
        3456
    """
    return sum(r["macs"] for r in layer_macs(model, example_inputs))


def effective_macs(model: nn.Module, example_inputs: Sequence[Tensor]) -> int:
    """The "ideal" MACs under sparsity: each layer's MACs × the density of its (masked) weight.

    Example:
        >>> lin = nn.Linear(4, 2, bias=False)
        >>> with torch.no_grad():
        ...     _ = lin.weight[0].zero_()
        >>> effective_macs(lin, (torch.randn(1, 4),))
        4
    """
    return round(sum(r["macs"] * r["density"] for r in layer_macs(model, example_inputs)))


def model_size_bytes(module: nn.Module) -> int:
    """Size on disk of ``module``'s state_dict as one safetensors file (masks included, as a checkpoint holds them)."""
    from gancompress.io import save_tensors

    with tempfile.TemporaryDirectory(prefix="gancompress-size-") as tmp:
        path = save_tensors(module.state_dict(), Path(tmp) / "m.safetensors")
        return path.stat().st_size


def model_stats(model: nn.Module, example_inputs: Sequence[Tensor]) -> dict[str, int]:
    """``params``, ``nonzero``, ``macs``, ``effective_macs``, ``size_bytes`` of ``model`` for ``example_inputs``."""
    rows = layer_macs(model, example_inputs)
    return {
        "params": count_parameters(model),
        "nonzero": count_nonzero(model),
        "macs": sum(r["macs"] for r in rows),
        "effective_macs": round(sum(r["macs"] * r["density"] for r in rows)),
        "size_bytes": model_size_bytes(model),
    }


def is_filter_structured(model: nn.Module) -> bool:
    """Whether the model's masks prune whole output channels (so :func:`remove_pruned_channels` can shrink it)."""
    from gancompress.pruning.granularity import _canonical

    found = False
    for mod in model.modules():
        mask = mod._buffers.get(MASK_NAME)
        if mask is None:
            continue
        per_filter = _canonical(mask, mod).flatten(2)  # (groups, out/groups, in/groups·kH·kW)
        if not bool((per_filter == per_filter[..., :1]).all()):
            return False
        found = found or bool((per_filter[..., 0] == 0).any())
    return found


# ------------------------------------------------------------------------------------------------------ ONNX
def _to_numpy(inputs: Sequence[Tensor]) -> list[np.ndarray]:
    return [t.detach().cpu().contiguous().numpy() for t in inputs]


def _onnx_export(module: nn.Module, example_inputs: Sequence[Tensor], path: Path, opset: int) -> list[str]:
    """TorchScript exporter (``dynamo=False``: onnxscript is not a dependency) with a dynamic batch axis."""
    names = [f"input{i}" for i in range(len(example_inputs))] if len(example_inputs) > 1 else ["input"]
    with _eval_mode(module), torch.no_grad():
        out = module(*example_inputs)
    outs = ["output"] if isinstance(out, Tensor) else [f"output{i}" for i in range(len(out))]
    with _eval_mode(module), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy-exporter deprecation notice; the exporter is pinned on purpose
        torch.onnx.export(
            module,
            tuple(example_inputs),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=names,
            output_names=outs,
            dynamic_axes={n: {0: "batch"} for n in names + outs},
            do_constant_folding=True,
        )
    return names


def _ort_session(path: Path, threads: int) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("onnxruntime is not installed; pip install 'gancompress[export]'") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # DECISION: no busy-waiting pool threads after a run: in interleaved rounds they would steal the next model's CPU.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def export_onnx(
    module: nn.Module, example_inputs: Sequence[Tensor], path: str | Path, *, opset: int = 17, atol: float = 1e-4
) -> dict[str, Any]:
    """Export to ONNX (dynamic batch axis) and check ONNX Runtime's outputs against PyTorch's.

    Parity is checked at the example batch and at twice that batch (the dynamic axis must work).

    Args:
        module: The model (exported in eval mode; its mode is restored).
        example_inputs: Inputs for ``module(*example_inputs)``.
        path: Output ``.onnx`` file.
        opset: ONNX opset version.
        atol: Largest allowed max-abs difference.

    Returns:
        ``{"path", "opset", "size_bytes", "max_abs_diff", "inputs"}``.

    Raises:
        ParityError: The max abs difference exceeds ``atol`` (the message gives it).

    Example:
        >>> from gancompress.models import create_model
        >>> g = create_model("dcgan_generator", nz=16, ngf=8)
        >>> export_onnx(g, (torch.randn(2, 16),), "g.onnx")["max_abs_diff"] < 1e-4  # doctest: +SKIP
        True
    """
    try:
        import onnx
    except ImportError:
        raise UserError("onnx is not installed; pip install 'gancompress[export]'") from None

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = _onnx_export(module, example_inputs, path, opset)
    onnx.checker.check_model(str(path))
    session = _ort_session(path, threads=max(1, torch.get_num_threads()))
    diff = 0.0
    for inputs in (tuple(example_inputs), tuple(torch.cat([t, t]) for t in example_inputs)):
        with _eval_mode(module), torch.no_grad():
            ref = module(*inputs)
        refs = [ref] if isinstance(ref, Tensor) else list(ref)
        got = session.run(None, dict(zip(names, _to_numpy(inputs), strict=True)))
        for r, o in zip(refs, got, strict=True):
            diff = max(diff, float(np.abs(r.detach().cpu().numpy() - o).max()))
    if not diff <= atol:
        raise ParityError(f"ONNX export {path}: max abs difference vs PyTorch {diff:.3g} > tolerance {atol:g}")
    log.info("exported %s (opset %d), max abs diff vs PyTorch %.3g", path, opset, diff)
    return {"path": str(path), "opset": opset, "size_bytes": path.stat().st_size, "max_abs_diff": diff, "inputs": names}


# ------------------------------------------------------------------------------------------------------ latency
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
    names = _onnx_export(model, example, onnx_path, opset=17)
    session = _ort_session(onnx_path, threads)
    return lambda inputs: session.run(None, dict(zip(names, inputs, strict=True)))


def thread_contention(threads: int, calls: int = 20) -> float:
    """How much slower a small convolution runs on ``threads`` threads than on one (restores the thread count).

    Near or below 1 on an idle machine; far above 1 (e.g. 100×) when other jobs hold the cores: every OpenMP
    parallel region then waits for all its threads to be scheduled, and latencies measure the scheduler, not the model.
    """
    prev, times = torch.get_num_threads(), []
    x, w = torch.randn(1, 32, 32, 32), torch.randn(32, 32, 3, 3)
    conv = lambda _: torch.conv2d(x, w, padding=1)  # noqa: E731
    try:
        with torch.inference_mode():
            for n in (1, threads, 1, threads):  # alternate, like the harness
                torch.set_num_threads(n)
                times.append(statistics.median(_measure(conv, None, 1, 0)[0] for _ in range(calls)))
    finally:
        torch.set_num_threads(prev)
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
            with a dynamic batch axis; skipped with a note if export fails).
        threads: ``torch.set_num_threads`` and ORT ``intra_op_num_threads`` (restored afterwards).
        warmup: Untimed calls per cell before the rounds (the first ``compile`` call compiles).
        rounds: Timed rounds.
        iters: Calls per measurement; ``None``: as many as fit in ``min_time_ms`` (robust to a warm-up that happened
            to run while the machine was busy).
        min_time_ms: Duration of one measurement when ``iters`` is ``None``.
        compile_budget_s: Total compile time after which ``compile`` is skipped for the remaining models.

    Returns:
        Rows ``{model, backend, batch, median_ms, p10_ms, p90_ms, iters, rounds, note}``; a skipped cell has
        ``median_ms=None`` and says why in ``note``.

    Example:
        >>> rows = benchmark_latency({"g": nn.Linear(8, 8)}, lambda b: (torch.randn(b, 8),), backends=("eager",),
        ...                          batch_sizes=(1,), rounds=1, warmup=1)
        >>> sorted(rows[0])[:4]
        ['backend', 'batch', 'iters', 'median_ms']
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
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with ExitStack() as stack:
            for model in models.values():
                stack.enter_context(_eval_mode(model))
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gancompress-bench-")))
            stack.enter_context(torch.inference_mode())
            if "compile" in backends:  # dense/masked/physical share one forward: room for all their static graphs
                limit = max(torch._dynamo.config.recompile_limit, 2 * len(models) * len(batch_sizes))
                stack.enter_context(torch._dynamo.config.patch(recompile_limit=limit))
            inputs = {(n, b): tuple(inputs_fn[n](b)) for n in models for b in batch_sizes}
            cells, notes = _prepare(models, inputs, backends, batch_sizes, threads, warmup, tmp, compile_budget_s)
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
    finally:
        torch.set_num_threads(prev_threads)
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
) -> tuple[dict[tuple[str, str, int], tuple[Callable, Any]], dict[tuple[str, str], str]]:
    """Build and warm up every (model, backend, batch) cell: ``{cell: (fn, feed)}`` and skip notes."""
    cells: dict[tuple[str, str, int], tuple[Callable, Any]] = {}
    notes: dict[tuple[str, str], str] = {}
    compile_s = 0.0
    for backend in backends:
        for i, (name, model) in enumerate(models.items()):
            if backend == "compile" and compile_s > compile_budget_s:
                notes[name, backend] = f"skipped: torch.compile took {compile_s:.0f} s > budget {compile_budget_s:g} s"
                continue
            start = time.perf_counter()
            try:
                fn = _runner(model, backend, threads, tmp / f"{i}.onnx", inputs[name, batch_sizes[0]])
                for b in batch_sizes:
                    feed = _to_numpy(inputs[name, b]) if backend == "onnx" else inputs[name, b]
                    _measure(fn, feed, 1 + warmup, 0.0)  # the first call compiles / initialises
                    cells[name, backend, b] = (fn, feed)
            except Exception as exc:  # a backend that cannot run this model is reported, not fatal
                msg = (str(exc).strip().splitlines() or [""])[0][:200]
                notes[name, backend] = f"skipped: {type(exc).__name__}: {msg}"
                log.warning("%s on %s skipped: %s", name, backend, notes[name, backend])
                for b in batch_sizes:
                    cells.pop((name, backend, b), None)
            if backend == "compile":
                compile_s += time.perf_counter() - start
    return cells, notes


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
        out.append({**row, "reference": ref, **cmp})
    return out
