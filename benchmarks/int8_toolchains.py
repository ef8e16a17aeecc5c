"""Int8 toolchains side by side on real generators: ONNX Runtime (QDQ / QOperator, plain and ConvTranspose-rewritten),
PyTorch's quantized CPU backends (FX graph mode) and OpenVINO + NNCF: the comparison behind export/quantize.py's choice.

Generators (``--runs``; default: the trained runs below): DCGAN channel-compressed to 1/4 MACs (``ours@0.25``, shrunk
with :func:`gancompress.cli.deployment.physical_copy`), its dense teacher, the wide pix2pix teacher, and a copy of it
channel-pruned one-shot to 1/4 MACs (:func:`gancompress.api.prune_oneshot`, then physically shrunk; pruned weights
are the teacher's, not fine-tuned). Translation families draw their inputs from the run's training split
(``loss.bind_eval_data``), so calibration and timing see real images.

Toolchains (each int8 one calibrated on 8 batches × 16 of the generator's own inputs, seeds 1000 + i, as
``export --int8`` does):

- ``ort_fp32`` (the baseline: :func:`gancompress.export.onnx.export_onnx`), ``ort_qdq``, ``ort_qoperator``;
- ``ort_fp32_rw``, ``ort_qdq_rw`` (the product's ``export --int8``), ``ort_qoperator_rw``: the same after
  :func:`gancompress.export.subpixel.rewrite_conv_transpose` (ConvTranspose → Conv + DepthToSpace, BatchNorm folded);
- ``torch_x86``, ``torch_fbgemm``, ``torch_x86_rw``: PyTorch eager execution of an FX-graph-mode int8 model
  (``prepare_fx``/``convert_fx`` with ``get_default_qconfig_mapping(engine)``; PT2E moved to torchao, which is not
  installed, and without ``torch.compile`` PT2E would only run reference quantize/dequantize ops).
  ``torch_x86_rw`` runs the rewritten model (made FX-traceable for the input size) with any ConvTranspose left
  (DCGAN's 1×1 stem) fp32;
- ``ov_fp32`` (OpenVINO, ``INFERENCE_PRECISION_HINT=f32``), ``ov_bf16`` (OpenVINO's default precision on this CPU:
  bf16 where the CPU has AMX / AVX512-BF16), ``ov_int8`` (``nncf.quantize`` of the OpenVINO model of the plain fp32
  ONNX; OpenVINO has int8 Deconvolution) and ``ov_int8_rw`` (of the rewritten ONNX). OpenVINO models are compiled
  per (threads, batch) with a static batch (``PERFORMANCE_HINT=LATENCY``, ``INFERENCE_NUM_THREADS``).

A toolchain whose package is missing is recorded as ``unavailable: <reason>``; one that fails, with its one-line error.

Metrics: latency of one batch (median, p10, p90) at every (threads, batch) of ``--threads`` × ``--batch-sizes``, all
toolchains of a generator interleaved round-robin (the order rotates every round) in one timing phase per setting,
``--rounds`` rounds after warm-up (in each, per toolchain: one untimed call, then ``--calls-per-round`` timed calls);
speed-up = ORT fp32 median / toolchain median. Fidelity vs the fp32 PyTorch generator on 64 held-out inputs (seed 7):
max / mean abs diff and PSNR (outputs in [-1, 1], peak-to-peak 2). Size: the ONNX file; OpenVINO .xml + .bin (saved
uncompressed); torch: its serialized state_dict.

``--pause-pids-pattern REGEX`` (default off) SIGSTOPs the processes whose command line matches (``pgrep -f``; never this
process, its ancestors or descendants; a ``multiprocessing`` worker only if a matched process is its ancestor) for the
duration of each timing phase and always SIGCONTs them after (try/finally, also on SIGTERM); ``os.getloadavg()`` is
recorded at the start of every phase. Building, calibrating and scoring run while they run.

Prints one JSON object and writes ``--out`` (.json) and its .md table. Usage:
``python benchmarks/int8_toolchains.py [--runs NAME=RUN[#prune=0.25],...] [--threads 1,2] [--batch-sizes 1,16]
[--rounds 60] [--calls-per-round 3]
[--pause-pids-pattern 'structured-wide-dcgan|multiprocessing.spawn|multiprocessing.forkserver']]``
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import logging
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

# DECISION: PyTorch's OpenMP workers sleep after a parallel region instead of spinning, as ONNX Runtime's do
# (allow_spinning 0) and OpenVINO's TBB workers do: spinning threads would steal the next toolchain's CPU in the
# interleaved rounds, and on 2 shared cores a spinning barrier stalls whenever another process holds a core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from torch import nn

from gancompress.cli.deployment import load_run, physical_copy
from gancompress.export.layer_latency import cpu_model
from gancompress.export.onnx import export_onnx, ort_session
from gancompress.export.quantize import Int8Cfg, calibration_feeds, quantize_onnx
from gancompress.export.subpixel import SubPixelConvTranspose2d, rewrite_conv_transpose
from gancompress.pruning.channel_groups import dense_layer_macs

log = logging.getLogger("int8_toolchains")

DEFAULT_RUNS = (
    "dcgan_ours@0.25=/work/runs/structured-dcgan/cells/dcgan/ours@0.25_s0",
    "dcgan_teacher=/work/runs/dcgan_t1500|/work/runs/structured-dcgan/cells/dcgan/control@0_s0",
    "pix2pix_teacher=/work/runs/wide/pix2pix/teacher",
    "pix2pix_prune@0.25=/work/runs/wide/pix2pix/teacher#prune=0.25",
)
TOOLCHAINS = ("ort_fp32", "ort_qdq", "ort_qoperator", "ort_fp32_rw", "ort_qdq_rw", "ort_qoperator_rw",
              "torch_x86", "torch_fbgemm", "torch_x86_rw", "ov_fp32", "ov_bf16", "ov_int8", "ov_int8_rw")  # fmt: skip
BASE = "ort_fp32"
CALIB_BATCHES, CALIB_SIZE, HELDOUT, HELDOUT_SEED, TIMING_SEED = 8, 16, 64, 7, 3
PHASE_CAP_S = 150.0  # each timing phase stays under 3 minutes (the paused processes wait that long at most)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


# ------------------------------------------------------------------------------------------------ pausing others


class Pauser:
    """SIGSTOP the processes matching ``pattern`` for a ``with`` block, SIGCONT them after (always)."""

    stopped: ClassVar[list[int]] = []  # class-wide: the signal handler resumes these

    def __init__(self, pattern: str | None) -> None:
        self.pattern = pattern

    @staticmethod
    def _cmdline(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return ""

    @staticmethod
    def _ppid(pid: int) -> int:
        try:
            return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return 0

    def _ancestors(self, pid: int) -> list[int]:
        out = []
        while pid > 1:
            pid = self._ppid(pid)
            out.append(pid)
        return out

    def targets(self) -> dict[int, str]:
        """{pid: command line} to stop: matches of ``pgrep -f`` minus this process's family and stray workers."""
        if not self.pattern:
            return {}
        res = subprocess.run(["pgrep", "-f", self.pattern], capture_output=True, text=True, check=False)
        matched = {int(p) for p in res.stdout.split()}
        me = os.getpid()
        mine = {me, *self._ancestors(me)}
        found = {}
        for pid in matched - mine:
            chain = self._ancestors(pid)
            if me in chain:  # a descendant of this benchmark
                continue
            cmd = self._cmdline(pid)
            if not cmd or "pgrep" in cmd:
                continue
            # a multiprocessing worker is stopped only if it belongs to a matched (non-worker) process
            if "multiprocessing" in cmd and not any(a in matched and a not in mine for a in chain):
                continue
            found[pid] = cmd[:160]
        return found

    @contextlib.contextmanager
    def paused(self):
        targets = self.targets()
        try:
            for pid in sorted(targets, reverse=True):  # workers (higher pids) first, then their parent
                try:
                    os.kill(pid, signal.SIGSTOP)
                    Pauser.stopped.append(pid)
                except ProcessLookupError:
                    pass
            if targets:
                time.sleep(0.5)  # let the stopped processes leave the CPUs
            yield targets
        finally:
            Pauser.resume_all()

    @staticmethod
    def resume_all() -> None:
        while Pauser.stopped:
            pid = Pauser.stopped.pop()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _on_term(signum: int, _frame: Any) -> None:
    Pauser.resume_all()
    raise SystemExit(128 + signum)


# ------------------------------------------------------------------------------------------------ generators


def load_generator(spec: str) -> dict[str, Any]:
    """``NAME=RUN[|FALLBACK_RUN][#prune=F]`` → the fp32 generator to compare, its inputs and what it is."""
    name, _, rest = spec.partition("=")
    if not rest:
        name, rest = Path(spec).name, spec
    rest, _, opt = rest.partition("#")
    prune = float(opt.split("=", 1)[1]) if opt.startswith("prune=") else None
    errors = []
    for run in rest.split("|"):
        try:
            g, make_inputs, meta = load_run(run)
            break
        except Exception as exc:  # fall back to the next run dir
            errors.append(f"{run}: {first_line(exc)}")
    else:
        raise RuntimeError("; ".join(errors))
    info: dict[str, Any] = {"run": run, "family": meta["family"], "load_errors": errors}
    if any(t.dim() == 4 for t in make_inputs(1)):  # image-conditioned: draw real images, not placeholders
        from gancompress.data import load_dataset
        from gancompress.rundir import run_config

        meta["loss"].bind_eval_data(load_dataset(run_config(run).data, "train"))
        info["inputs"] = "training split (bind_eval_data)"
    one = make_inputs(1)
    macs_src = sum(dense_layer_macs(g, one).values())
    if prune is not None:
        from gancompress.api import prune_oneshot
        from gancompress.config import PruneCfg

        res = prune_oneshot(g, PruneCfg(granularity="channel", target_macs=prune, round_to=8), make_inputs(2))
        g, _report, diff = physical_copy(res.generator, make_inputs)
        info.update(shrink=f"prune_oneshot channel target_macs={prune} round_to=8 + physical_copy", shrink_diff=diff,
                    trained="one-shot pruned from trained weights, not fine-tuned")  # fmt: skip
    elif any(n.endswith("weight_mask") for n, _ in g.named_buffers()):
        g, _report, diff = physical_copy(g, make_inputs)
        info.update(shrink="physical_copy", shrink_diff=diff, trained="trained")
    else:
        info["trained"] = "trained"
    g = g.eval()
    macs = sum(dense_layer_macs(g, one).values())
    info.update(name=name, macs=macs, mac_fraction=round(macs / macs_src, 4),
                params=sum(p.numel() for p in g.parameters()))  # fmt: skip
    return {"name": name, "g": g, "make_inputs": make_inputs, "info": info}


def static_subpixel(m: nn.Module, example: tuple[torch.Tensor, ...]) -> nn.Module:
    """``m`` with every :class:`SubPixelConvTranspose2d` as ``[ZeroPad2d,] Conv2d, PixelShuffle`` for inputs shaped
    like ``example`` (FX cannot trace the data-dependent geometry; the layers are the same arithmetic)."""
    shapes: dict[str, torch.Size] = {}
    subs = {n: s for n, s in m.named_modules() if isinstance(s, SubPixelConvTranspose2d)}
    hooks = [s.register_forward_pre_hook(lambda _m, a, n=n: shapes.__setitem__(n, a[0].shape)) for n, s in subs.items()]
    with torch.no_grad():
        m(*example)
    for h in hooks:
        h.remove()
    for name, sub in subs.items():
        h, w = shapes[name][-2:]
        (out_h, right_h), (out_w, right_w) = sub._geometry(h, 0), sub._geometry(w, 1)
        if (out_h, out_w) != (h * sub.s, w * sub.s):
            raise RuntimeError(f"{name}: sub-pixel output needs a crop; not supported here")
        symmetric = (right_h, right_w) == sub.left
        conv = nn.Conv2d(sub.weight.shape[1], sub.weight.shape[0], tuple(sub.weight.shape[2:]),
                         padding=sub.left if symmetric else 0, bias=sub.bias is not None)  # fmt: skip
        conv.weight.data.copy_(sub.weight.data)
        if sub.bias is not None:
            conv.bias.data.copy_(sub.bias.data)
        pad = [] if symmetric else [nn.ZeroPad2d((sub.left[1], right_w, sub.left[0], right_h))]
        parent, _, leaf = name.rpartition(".")
        setattr(m.get_submodule(parent) if parent else m, leaf, nn.Sequential(*pad, conv, nn.PixelShuffle(sub.s)))
    return m.eval()


# ------------------------------------------------------------------------------------------------ toolchains


class Toolchain:
    """One built model: ``runner(threads, batch)`` → zero-argument callable for timing; ``predict(inputs)``."""

    api = ""

    def runner(self, threads: int, batch: int, inputs: tuple[torch.Tensor, ...]) -> Callable[[], Any]:
        raise NotImplementedError

    def predict(self, inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
        raise NotImplementedError


class OrtToolchain(Toolchain):
    def __init__(self, path: Path, names: list[str], info: dict[str, Any]) -> None:
        self.path, self.names, self.info = path, names, info
        self.size = path.stat().st_size
        self.sessions: dict[int, Any] = {}
        self.api = f"onnxruntime {__import__('onnxruntime').__version__} CPUExecutionProvider"

    def _session(self, threads: int) -> Any:
        if threads not in self.sessions:
            self.sessions[threads] = ort_session(self.path, threads)  # intra-op threads, allow_spinning 0
        return self.sessions[threads]

    def runner(self, threads, batch, inputs):
        sess, feeds = self._session(threads), {n: t.numpy() for n, t in zip(self.names, inputs, strict=True)}
        return lambda: sess.run(None, feeds)

    def predict(self, inputs):
        return self._session(2).run(None, {n: t.numpy() for n, t in zip(self.names, inputs, strict=True)})[0]


class TorchToolchain(Toolchain):
    def __init__(self, model: nn.Module, engine: str, api: str, info: dict[str, Any]) -> None:
        self.model, self.engine, self.api, self.info = model, engine, api, info
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        self.size = buf.tell()

    def _call(self, inputs):
        torch.backends.quantized.engine = self.engine
        with torch.no_grad():
            return self.model(*inputs)

    def runner(self, threads, batch, inputs):
        return lambda: self._call(inputs)  # torch.set_num_threads(threads) is set for the whole phase

    def predict(self, inputs):
        return self._call(inputs).numpy()


class OvToolchain(Toolchain):
    def __init__(self, model: Any, precision: str | None, info: dict[str, Any], tmp: Path) -> None:
        import openvino as ov

        self.ov, self.core, self.model, self.precision, self.info = ov, ov.Core(), model, precision, info
        self.api = f"openvino {ov.__version__} CPU"
        xml = tmp / f"ov_{id(self)}.xml"
        ov.save_model(model, str(xml), compress_to_fp16=False)
        self.size = xml.stat().st_size + xml.with_suffix(".bin").stat().st_size
        self.compiled: dict[tuple[int, int | None], Any] = {}

    def _compiled(self, threads: int, batch: int | None) -> Any:
        key = (threads, batch)
        if key not in self.compiled:
            m = self.model
            if batch is not None:  # a static batch: OpenVINO's recommended deployment shape
                m = m.clone()
                m.reshape({i.get_any_name(): [batch, *i.get_partial_shape()[1:]] for i in m.inputs})
            cfg: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
            if self.precision:
                cfg["INFERENCE_PRECISION_HINT"] = self.precision
            c = self.core.compile_model(m, "CPU", cfg)
            self.info["inference_precision"] = str(c.get_property("INFERENCE_PRECISION_HINT"))
            self.compiled[key] = c
        return self.compiled[key]

    def _feeds(self, inputs):
        return {i.get_any_name(): t.numpy() for i, t in zip(self.model.inputs, inputs, strict=True)}

    def runner(self, threads, batch, inputs):
        req, feeds = self._compiled(threads, batch).create_infer_request(), self._feeds(inputs)
        return lambda: req.infer(feeds, share_inputs=True)

    def predict(self, inputs):
        req = self._compiled(2, None).create_infer_request()
        req.infer(self._feeds(inputs))
        return np.array(req.get_output_tensor(0).data)


def build_ort(g, make_inputs, calib, tmp: Path) -> dict[str, Callable[[], Toolchain]]:
    """Builders of the six ONNX Runtime toolchains (the fp32 exports are written once, on first use)."""
    exports: dict[str, tuple[Path, list[str], dict]] = {}

    def fp32(kind: str) -> tuple[Path, list[str], dict]:
        if kind not in exports:
            model, info = g, {}
            if kind == "rw":
                model, count = rewrite_conv_transpose(g)
                info["rewritten_conv_transpose"] = count
            path = tmp / f"{kind}.fp32.onnx"
            rep = export_onnx(model, make_inputs(2), path)
            info["export_max_abs_diff"] = rep["max_abs_diff"]
            exports[kind] = (path, rep["inputs"], info)
        return exports[kind]

    def fp32_tc(kind: str) -> Toolchain:
        path, names, info = fp32(kind)
        return OrtToolchain(path, names, dict(info))

    def int8_tc(kind: str, fmt: str) -> Toolchain:
        path, names, info = fp32(kind)
        out = tmp / f"{kind}.{fmt}.onnx"
        rep = quantize_onnx(path, out, calibration_feeds(names, calib), Int8Cfg(fmt=fmt))
        q = {k: rep[k] for k in ("format", "per_channel", "int8_nodes", "weighted_nodes")}
        q["fp32_weighted"] = len(rep["fp32_weighted"])
        return OrtToolchain(out, names, {**info, **q})

    return {"ort_fp32": lambda: fp32_tc("plain"), "ort_qdq": lambda: int8_tc("plain", "qdq"),
            "ort_qoperator": lambda: int8_tc("plain", "qoperator"), "ort_fp32_rw": lambda: fp32_tc("rw"),
            "ort_qdq_rw": lambda: int8_tc("rw", "qdq"), "ort_qoperator_rw": lambda: int8_tc("rw", "qoperator"),
            "_exports": fp32}  # fmt: skip


def build_torch(g, calib, engine: str, rewritten: bool) -> Toolchain:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    if engine not in torch.backends.quantized.supported_engines:
        raise RuntimeError(f"unavailable: quantized engine {engine} not in this torch build")
    model, info = copy.deepcopy(g).eval(), {}
    qmap = get_default_qconfig_mapping(engine)
    if rewritten:
        model, count = rewrite_conv_transpose(model)
        model = static_subpixel(model, calib[0])
        info["rewritten_conv_transpose"] = count
        left = [n for n, m in model.named_modules() if isinstance(m, nn.ConvTranspose2d)]
        if left:  # the x86 engine's int8 ConvTranspose is wrong (see torch_x86's PSNR): keep the rest fp32
            qmap = qmap.set_object_type(nn.ConvTranspose2d, None)
            info["fp32_conv_transpose"] = left
    prev = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao deprecation notices (FX mode → torchao)
            prepared = prepare_fx(model, qmap, calib[0])
            with torch.no_grad():
                for batch in calib:
                    prepared(*batch)
            q = convert_fx(prepared)
    finally:
        torch.backends.quantized.engine = prev
    api = (f"torch {torch.__version__} FX graph mode (prepare_fx/convert_fx, get_default_qconfig_mapping('{engine}')), "
           f"engine {engine}, eager execution")  # fmt: skip
    return TorchToolchain(q, engine, api, info)


def build_ov(onnx_path: Path, calib, names: list[str], precision: str | None, int8: bool, tmp: Path) -> Toolchain:
    try:
        import openvino as ov
    except ImportError as exc:
        raise RuntimeError(f"unavailable: openvino not installed ({exc})") from None
    model = ov.convert_model(str(onnx_path))
    info: dict[str, Any] = {"source": onnx_path.name}
    if int8:
        try:
            import nncf
        except ImportError as exc:
            raise RuntimeError(f"unavailable: nncf not installed ({exc})") from None
        feeds = calibration_feeds(names, calib)
        with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bars
            model = nncf.quantize(model, nncf.Dataset(feeds), subset_size=len(feeds))
        info["nncf"] = f"nncf {nncf.__version__} quantize (preset PERFORMANCE, default: fast bias correction)"
    return OvToolchain(model, precision, info, tmp)


def psnr(ref: np.ndarray, out: np.ndarray, peak_to_peak: float = 2.0) -> float:
    mse = float(np.mean((ref.astype(np.float64) - out.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak_to_peak**2 / mse)


# ------------------------------------------------------------------------------------------------ timing


def running_others() -> int:
    """Processes other than this one in state R (running or runnable) right now."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.parent.name) != os.getpid() and stat.read_text().rsplit(")", 1)[1].split()[0] == "R":
                count += 1
    return count


def time_phase(tcs: dict[str, Toolchain], make_inputs, threads: int, batch: int, rounds: int, calls: int,
               pauser: Pauser) -> dict[str, Any]:  # fmt: skip
    """One (threads, batch) setting: ``rounds`` rounds; in each, every toolchain in turn (the order rotates) runs one
    untimed call then ``calls`` timed calls. DECISION: the untimed call re-warms the caches and thread pool the
    previous toolchain evicted (measured: a single cold call per round made ORT int8 look ~25 % slower next to
    OpenVINO than alone), so the numbers are a deployed model's steady state, still side by side in one run."""
    inputs = make_inputs(batch, TIMING_SEED)
    fns, errors = {}, {}
    for name, tc in tcs.items():  # sessions / compiled models are made before pausing anyone
        try:
            fns[name] = tc.runner(threads, batch, inputs)
        except Exception as exc:
            errors[name] = first_line(exc)
    torch.set_num_threads(threads)
    times: dict[str, list[float]] = {n: [] for n in fns}
    per_round: dict[str, list[float]] = {n: [] for n in fns}
    with pauser.paused() as paused:
        load, others = os.getloadavg(), running_others()
        start = time.perf_counter()
        for name, fn in list(fns.items()):  # warm-up
            try:
                for _ in range(3):
                    fn()
            except Exception as exc:
                errors[name] = first_line(exc)
                del fns[name], times[name], per_round[name]
        order, done = list(fns), 0
        for r in range(rounds):
            if time.perf_counter() - start > PHASE_CAP_S:
                break
            for name in order[r % len(order) :] + order[: r % len(order)]:  # rotate who goes first
                fn = fns[name]
                fn()
                got = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    fn()
                    got.append((time.perf_counter() - t0) * 1e3)
                times[name] += got
                per_round[name].append(statistics.median(got))
                time.sleep(0.001)  # let this runtime's worker threads go idle before the next one starts
            done += 1
        seconds = time.perf_counter() - start
    rows = {}
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=10) if len(ts) >= 2 else [ts[0]] * 9
        rows[name] = {"median_ms": round(statistics.median(ts), 4), "p10_ms": round(q[0], 4),
                      "p90_ms": round(q[-1], 4)}  # fmt: skip
    if BASE in times:
        for name in times:
            rows[name]["speedup"] = round(rows[BASE]["median_ms"] / rows[name]["median_ms"], 3)
            # per-round ratio against the baseline of the same round: robust to slow drifts in load
            pairs = zip(per_round[BASE], per_round[name], strict=True)
            rows[name]["paired_speedup"] = round(statistics.median(b / t for b, t in pairs), 3)
    return {"threads": threads, "batch": batch, "rounds": done, "calls_per_round": calls,
            "seconds": round(seconds, 1), "loadavg_at_start": [round(x, 2) for x in load],
            "running_others_at_start": others, "paused": paused, "rows": rows, "errors": errors}  # fmt: skip


# ------------------------------------------------------------------------------------------------ report


def markdown(out: dict[str, Any]) -> str:
    env = out["env"]
    lines = [
        "# Int8 toolchains side by side (benchmarks/int8_toolchains.py)",
        "",
        f"CPU: {env['cpu']} ({env['cores']} cores; {env['isa']}); torch {env['torch']}, onnxruntime "
        f"{env['onnxruntime']}, openvino {env['openvino']}, nncf {env['nncf']}. Speed-up = ORT fp32 (plain export) "
        f"median / toolchain median, all toolchains of a generator interleaved in one phase per setting "
        f"({out['config']['rounds']} rounds of one untimed + {out['config'].get('calls_per_round', 1)} timed calls "
        f"each, unless capped at {PHASE_CAP_S:g} s); PSNR vs the fp32 PyTorch generator "
        f"on {HELDOUT} held-out "
        "inputs (outputs in [-1, 1]); size vs the plain fp32 ONNX file.",
        "",
    ]
    cols = [(2, 16), (1, 16), (1, 1)]
    for name, gen in out["generators"].items():
        info = gen.get("info", {})
        lines += [f"## {name}", ""]
        if "error" in gen:
            lines += [f"failed: {gen['error']}", ""]
            continue
        lines.append(f"run `{info['run']}` ({info['family']}; {info.get('shrink', 'dense')}; "
                     f"{info['mac_fraction']:.3g} of the source MACs; {info['trained']})")  # fmt: skip
        timing = {(p["threads"], p["batch"]): p for p in gen["timing"]}
        base = [timing.get(c, {}).get("rows", {}).get(BASE, {}).get("median_ms") for c in cols]
        lines += ["", "ORT fp32 medians (ms): " + ", ".join(
            f"b{b}/{t}thr {m}" for (t, b), m in zip(cols, base, strict=True)), ""]  # fmt: skip
        lines += ["| toolchain | b16/2thr ms | b16/2thr × | b16/1thr × | b1/1thr × | PSNR vs fp32 (dB) | max abs diff "
                  "| size × |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for tc, rec in gen["toolchains"].items():
            if rec["status"] != "ok":
                lines.append(f"| {tc} | {rec['status']} | | | | | | |")
                continue
            first = timing.get(cols[0], {}).get("rows", {}).get(tc)
            cells = [f"{first['median_ms']:.2f}" if first else "–"]
            for c in cols:
                row = timing.get(c, {}).get("rows", {}).get(tc)
                cells.append(f"{row['speedup']:.2f}" if row and "speedup" in row else "–")
            fid = rec.get("fidelity", {})
            p = fid.get("psnr_db")
            lines.append(f"| {tc} | {' | '.join(cells)} | {'∞' if p == math.inf else p} | {fid.get('max_abs_diff')} "
                         f"| {rec.get('size_ratio')} |")  # fmt: skip
        lines.append("")
    lines += ["## Which to keep and why", "", out.get("verdict", "(see the JSON)"), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default=",".join(DEFAULT_RUNS), help="NAME=RUN[|FALLBACK][#prune=F],...")
    ap.add_argument("--toolchains", default=",".join(TOOLCHAINS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch-sizes", default="1,16")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--calls-per-round", type=int, default=3, help="timed calls per toolchain per round")
    ap.add_argument("--pause-pids-pattern", default=None, help="pgrep -f regex of processes to SIGSTOP while timing")
    ap.add_argument("--out", default="results/benchmarks/int8_toolchains.json")
    ap.add_argument("--report-only", action="store_true", help="rewrite the .md from the existing .json (no timing)")
    ap.add_argument("--verdict-file", default=None, help="markdown text stored as the JSON's verdict")
    args = ap.parse_args()
    if args.report_only:
        path = Path(args.out)
        out = json.loads(path.read_text())
        if args.verdict_file:
            out["verdict"] = Path(args.verdict_file).read_text().strip()
            path.write_text(json.dumps(out, indent=1, default=str) + "\n")
        path.with_suffix(".md").write_text(markdown(out))
        return
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("int8_toolchains").setLevel(logging.INFO)
    logging.getLogger("nncf").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _on_term)
    threads = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    wanted = args.toolchains.split(",")
    if args.pause_pids_pattern:
        re.compile(args.pause_pids_pattern)
    pauser = Pauser(args.pause_pids_pattern)
    versions = {}
    for mod in ("onnxruntime", "onnx", "openvino", "nncf"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception as exc:  # missing: its toolchains report unavailable
            versions[mod] = f"unavailable: {first_line(exc)}"
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = [f for f in ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16") if f" {f}" in flags]
    out: dict[str, Any] = {
        "env": {"cpu": cpu_model(), "cores": os.cpu_count(), "isa": ", ".join(isa) or "no VNNI/AMX",
                "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__, **versions, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                "loadavg_start": [round(x, 2) for x in os.getloadavg()]},
        "config": {**vars(args), "calibration": f"{CALIB_BATCHES} batches x {CALIB_SIZE}, seeds 1000+i",
                   "heldout": f"{HELDOUT} inputs, seed {HELDOUT_SEED}", "timing_inputs_seed": TIMING_SEED,
                   "phase_cap_s": PHASE_CAP_S},
        "generators": {},
    }  # fmt: skip
    t_start = time.perf_counter()
    try:
        for spec in args.runs.split(","):
            t0 = time.perf_counter()
            try:
                gen = load_generator(spec)
            except Exception as exc:
                name = spec.partition("=")[0]
                out["generators"][name] = {"error": first_line(exc)}
                log.warning("%s: %s", name, first_line(exc))
                continue
            out["generators"][gen["name"]] = run_generator(
                gen, wanted, threads, batches, args.rounds, args.calls_per_round, pauser
            )
            out["generators"][gen["name"]]["seconds"] = round(time.perf_counter() - t0, 1)
    finally:
        Pauser.resume_all()
    out["env"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["seconds"] = round(time.perf_counter() - t_start, 1)
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if args.verdict_file:
        out["verdict"] = Path(args.verdict_file).read_text().strip()
    elif path.exists():  # keep a hand-written verdict across re-runs
        with contextlib.suppress(Exception):
            old = json.loads(path.read_text())
            if old.get("verdict"):
                out["verdict"] = old["verdict"]
    path.write_text(json.dumps(out, indent=1, default=str) + "\n")
    path.with_suffix(".md").write_text(markdown(out))
    print(json.dumps(out, indent=1, default=str))


def run_generator(gen: dict[str, Any], wanted: list[str], threads: list[int], batches: list[int], rounds: int,
                  calls: int, pauser: Pauser) -> dict[str, Any]:  # fmt: skip
    g, make_inputs = gen["g"], gen["make_inputs"]
    calib = [make_inputs(CALIB_SIZE, 1000 + i) for i in range(CALIB_BATCHES)]
    heldout = make_inputs(HELDOUT, HELDOUT_SEED)
    with torch.no_grad():
        ref = g(*heldout).numpy()
    res: dict[str, Any] = {"info": gen["info"], "toolchains": {}, "timing": []}
    tcs: dict[str, Toolchain] = {}
    with tempfile.TemporaryDirectory(prefix="int8-toolchains-") as tmp_s:
        tmp = Path(tmp_s)
        ort = build_ort(g, make_inputs, calib, tmp)

        def ov(kind: str, precision: str | None, int8: bool) -> Callable[[], Toolchain]:
            def build() -> Toolchain:
                path, names, _ = ort["_exports"](kind)
                return build_ov(path, calib, names, precision, int8, tmp)

            return build

        builders: dict[str, Callable[[], Toolchain]] = {
            **{k: v for k, v in ort.items() if not k.startswith("_")},
            "torch_x86": lambda: build_torch(g, calib, "x86", rewritten=False),
            "torch_fbgemm": lambda: build_torch(g, calib, "fbgemm", rewritten=False),
            "torch_x86_rw": lambda: build_torch(g, calib, "x86", rewritten=True),
            "ov_fp32": ov("plain", "f32", False),
            "ov_bf16": ov("plain", None, False),
            "ov_int8": ov("plain", "f32", True),
            "ov_int8_rw": ov("rw", "f32", True),
        }
        base_size = None
        for name in wanted:
            t0 = time.perf_counter()
            rec: dict[str, Any] = {}
            try:
                tc = builders[name]()
                rec.update(status="ok", api=tc.api, info=tc.info, size_bytes=tc.size)
                out = tc.predict(heldout)
                diff = np.abs(out - ref)
                rec["fidelity"] = {
                    "max_abs_diff": round(float(diff.max()), 5),
                    "mean_abs_diff": round(float(diff.mean()), 6),
                    "psnr_db": round(psnr(ref, out), 2),
                }
                tcs[name] = tc
            except Exception as exc:  # one line, and the benchmark goes on
                msg = first_line(exc)
                rec["status"] = msg.split(": ", 1)[1] if "unavailable:" in msg else f"error: {msg}"
            rec["build_s"] = round(time.perf_counter() - t0, 1)
            if name == BASE and rec.get("size_bytes"):
                base_size = rec["size_bytes"]
            if base_size and rec.get("size_bytes"):
                rec["size_ratio"] = round(rec["size_bytes"] / base_size, 3)
            res["toolchains"][name] = rec
            log.info("%s %s: %s", gen["name"], name, {k: rec.get(k) for k in ("status", "fidelity", "size_bytes")})
        for t in threads:
            for b in batches:
                phase = time_phase(tcs, make_inputs, t, b, rounds, calls, pauser)
                res["timing"].append(phase)
                speed = {k: v.get("speedup") for k, v in phase["rows"].items()}
                log.info("%s threads=%d batch=%d: %s s, load %s, %s", gen["name"], t, b, phase["seconds"],
                         phase["loadavg_at_start"], speed)  # fmt: skip
    return res


if __name__ == "__main__":
    main()
