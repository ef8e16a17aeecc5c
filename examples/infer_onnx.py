"""Run an exported generator with ONNX Runtime (or OpenVINO) alone: write a sample grid (PNG) and time one batch.

Only numpy, the standard library and one runtime are imported (no PyTorch, no PIL): onnxruntime by default, openvino
with ``--runtime openvino`` (imported only then), so this is what runs on a deployment machine::

    python examples/infer_onnx.py generator.onnx                     # → generator.grid.png and a short summary
    python examples/infer_onnx.py generator.onnx --num 16 --seed 3 --grid samples.png
    python examples/infer_onnx.py generator.onnx --batch 1 --rounds 100 --threads 2 --json
    python examples/infer_onnx.py stargan.onnx --inputs faces.npz    # a translation model: give real source images
    python examples/infer_onnx.py g.int8.onnx --runtime openvino     # export --int8 --int8-runtime openvino's model

Runtimes: ``onnxruntime`` (default; ``--providers`` picks its execution providers) or ``openvino`` (the ONNX file read
by ``openvino.Core().read_model`` and run on its CPU device, compiled with static shapes — once per batch shape run —
and ``INFERENCE_PRECISION_HINT=f32``, so fp32 layers are not silently run in bf16 on AMX CPUs).

Inputs: ``--inputs FILE.npz`` holds one array per graph input name, first axis = sample; the grid takes the first
``--num`` samples in order (repeating them if there are fewer). Without ``--inputs``, ``MODEL.inputs.npz`` next to
the model is used if it exists; otherwise inputs are drawn (seeded by ``--seed``) from the graph's input shapes and
types: float inputs from a standard normal (latents), integer inputs from {0, 1}. A dynamic axis other than the
batch axis cannot be drawn without metadata: give ``--inputs`` then.

Metadata (optional): ``metadata_props`` key ``gancompress`` may hold JSON such as
``{"family": "dcgan", "inputs": [{"name": "input", "shape": [64], "kind": "latent"}], "output_range": [-1, 1]}``.
``shape`` is the per-sample shape (it fills dynamic axes); ``kind`` is ``latent`` (standard normal), ``image``
(uniform in [-1, 1]) or ``label`` (one-hot rows, a random class per sample; ``onehot`` is accepted too).

Output: the first graph output, NCHW floats in ``output_range`` (default [-1, 1]), mapped to 0..255 and tiled into
a near-square grid with 2 px of black padding, written as 8-bit grayscale (1 channel) or RGB (3 channels); of other
channel counts the first 3 (or, for 2 channels, the first 1) are shown, with a note on stderr.

Timing: ``--rounds`` runs of one ``--batch`` (after 3 warm-up runs) on ``--threads`` threads — ONNX Runtime:
intra-op threads, sequential execution, no spinning pool threads; OpenVINO: ``INFERENCE_NUM_THREADS``,
``PERFORMANCE_HINT=LATENCY`` — and the median, p10 and p90 latency are reported. ``--json`` names the ``runtime``.

Errors in the model file, the inputs or the options — and a chosen runtime that is not installed — are one line on
stderr with exit code 2; a failed inference run exits with 1.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

if TYPE_CHECKING:  # the runtimes are imported when chosen (open_session): either one alone is enough
    from typing import TypeAlias

    import onnxruntime as ort

    Session: TypeAlias = "ort.InferenceSession | OpenVINOSession"

PROG = "infer_onnx.py"
META_KEY = "gancompress"
KINDS = {"latent": "latent", "image": "image", "label": "label", "onehot": "label"}
DEFAULT_RANGE = (-1.0, 1.0)
WARMUP = 3
PAD = 2
RUNTIMES = ("onnxruntime", "openvino")
DTYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
}  # fmt: skip

#: OpenVINO element types → the ONNX Runtime type strings of DTYPES
OV_TYPES = {"f32": "tensor(float)", "f16": "tensor(float16)", "f64": "tensor(double)", "i64": "tensor(int64)",
            "i32": "tensor(int32)", "i16": "tensor(int16)", "i8": "tensor(int8)", "u8": "tensor(uint8)",
            "boolean": "tensor(bool)"}  # fmt: skip

Arrays = dict[str, np.ndarray]


class UsageError(Exception):
    """The model file, the inputs or an option is unusable: one line on stderr, exit code 2."""


class InferenceError(Exception):
    """The runtime failed while running the model: one line on stderr, exit code 1."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


@dataclass
class InputSpec:
    """One graph input: its name, numpy dtype, graph shape (batch axis first; ``None`` or a name for a dynamic axis)
    and what the metadata says about it."""

    name: str
    dtype: np.dtype
    shape: list[int | str | None]
    kind: str | None = None  # latent | image | label, from the metadata
    meta_shape: list[int] | None = None  # per-sample shape, from the metadata

    @property
    def fixed_batch(self) -> int | None:
        first = self.shape[0] if self.shape else None
        return first if isinstance(first, int) and first > 0 else None

    def static(self, axis: int) -> int | None:
        d = self.shape[axis]
        return d if isinstance(d, int) and d > 0 else None

    def sample_shape(self) -> tuple[int, ...]:
        """The per-sample shape for synthesised inputs: static graph axes, dynamic ones from the metadata."""
        meta = self.meta_shape if self.meta_shape is not None and len(self.meta_shape) == len(self.shape) - 1 else None
        dims, unresolved = [], []
        for axis in range(1, len(self.shape)):
            d = self.static(axis) or (meta[axis - 1] if meta else None)
            if d is None:
                unresolved.append(axis)
            dims.append(d or 0)
        if unresolved:
            raise UsageError(
                f"input {self.name!r} has dynamic axes {unresolved} besides the batch axis (graph shape "
                f"{_fmt_shape(self.shape)}) and no metadata gives their size; pass its inputs with --inputs FILE.npz"
            )
        return tuple(dims)


def _fmt_shape(shape: Sequence[int | str | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def parse_metadata(
    raw: str | None, names: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], tuple[float, float], list[str]]:
    """(per-input ``{"kind", "shape"}``, output range, notes) from the ``gancompress`` metadata JSON; malformed
    metadata is ignored with a note, since the script must work without it."""
    if raw is None:
        return {}, DEFAULT_RANGE, []
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        low_high = meta.get("output_range", list(DEFAULT_RANGE))
        numbers = isinstance(low_high, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in low_high
        )
        if not (numbers and len(low_high) == 2 and low_high[0] < low_high[1]):
            raise ValueError(f"output_range {low_high!r} is not [low, high] with low < high")
        entries = meta.get("inputs", [])
        if not isinstance(entries, list):
            raise ValueError("'inputs' is not a list")
        per_input: dict[str, dict[str, Any]] = {}
        notes = []
        for e in entries:
            if not isinstance(e, dict) or not isinstance(e.get("name"), str):
                raise ValueError(f"input entry {e!r} has no name")
            kind, shape = e.get("kind"), e.get("shape")
            if kind is not None and kind not in KINDS:
                raise ValueError(f"input {e['name']!r} has kind {kind!r}, not one of latent | image | label")
            if shape is not None and not (
                isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
            ):
                raise ValueError(f"input {e['name']!r} has shape {shape!r}, not a list of positive integers")
            if e["name"] not in names:
                notes.append(f"the metadata describes input {e['name']!r}, which the graph does not have; ignored")
                continue
            per_input[e["name"]] = {"kind": KINDS[kind] if kind else None, "shape": shape}
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        return {}, DEFAULT_RANGE, [f"ignoring the model's {META_KEY!r} metadata: {err}"]
    return per_input, (float(low_high[0]), float(low_high[1])), notes


class OpenVINOSession:
    """The part of ``onnxruntime.InferenceSession`` this script uses, on OpenVINO's CPU device: the ONNX model is read
    once and compiled for the static shapes of each feed (one compiled model per batch shape, cached) on ``threads``
    inference threads, latency hint, fp32 precision."""

    device = "CPU"

    def __init__(self, path: Path, threads: int) -> None:
        try:
            import openvino
            from openvino.frontend import FrontEndManager
        except ImportError:
            raise UsageError("openvino is not installed; pip install openvino (or use --runtime onnxruntime)") from None
        # asked first: read_model would try every other frontend on a file the ONNX one rejects (TensorFlow's logs)
        if not FrontEndManager().load_by_framework("onnx").supported(str(path)):
            raise UsageError(f"cannot load {path} as an ONNX model: OpenVINO's ONNX reader does not recognise it")
        self._core = openvino.Core()
        try:
            self._model = self._core.read_model(str(path))
        except Exception as err:  # RuntimeError, its first lines naming OpenVINO's source files
            lines = [t for t in str(err).splitlines() if t.strip() and not t.startswith("Exception from ")]
            reason = lines[0][:300] if lines else type(err).__name__
            raise UsageError(f"cannot load {path} as an ONNX model: {reason}") from None
        self._config = {
            "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32",
        }  # fmt: skip
        self._inputs = [self._describe(port) for port in self._model.inputs]
        self._outputs = [SimpleNamespace(name=port.any_name) for port in self._model.outputs]
        self._requests: dict[tuple[tuple[int, ...], ...], Any] = {}

    @staticmethod
    def _describe(port: Any) -> SimpleNamespace:
        """An input as onnxruntime describes it: name, type string (``tensor(float)``), shape (``None``: dynamic)."""
        shape = port.get_partial_shape()
        if shape.rank.is_dynamic:
            raise UsageError(f"input {port.any_name!r} has a dynamic rank; this script needs its number of axes")
        kind = port.get_element_type().get_type_name()
        dims = [d.get_length() if d.is_static else None for d in shape]
        return SimpleNamespace(name=port.any_name, type=OV_TYPES.get(kind, f"openvino {kind}"), shape=dims)

    def get_inputs(self) -> list[SimpleNamespace]:
        return self._inputs

    def get_outputs(self) -> list[SimpleNamespace]:
        return self._outputs

    def get_providers(self) -> list[str]:
        return [self.device]

    def get_modelmeta(self) -> SimpleNamespace:
        """The ONNX ``metadata_props`` this script reads: OpenVINO keeps them under ``rt_info["framework"]``."""
        key = ["framework", META_KEY]
        meta = {META_KEY: self._model.get_rt_info(key).astype(str)} if self._model.has_rt_info(key) else {}
        return SimpleNamespace(custom_metadata_map=meta)

    def run(self, output_names: Sequence[str] | None, feeds: Arrays) -> list[np.ndarray]:
        names = [i.name for i in self._inputs]
        shapes = tuple(tuple(feeds[n].shape) for n in names)
        request = self._requests.get(shapes)
        if request is None:  # first run of this batch shape: reshape the model to it and compile
            static = self._model.clone()
            static.reshape({n: list(shape) for n, shape in zip(names, shapes, strict=True)})
            request = self._core.compile_model(static, self.device, self._config).create_infer_request()
            self._requests[shapes] = request
        result = request.infer({n: feeds[n] for n in names})  # outputs are copied out of the request
        outs = [np.asarray(result[i]) for i in range(len(self._outputs))]
        if output_names is None:
            return outs
        index = [o.name for o in self._outputs]
        return [outs[index.index(n)] for n in output_names]


def open_session(path: Path, threads: int, providers: Sequence[str] | None, runtime: str = "onnxruntime") -> Session:
    """A session on ``runtime``. ONNX Runtime: ``threads`` intra-op threads, one inter-op thread, sequential, without
    spinning pool threads, on ``providers`` (default CPU). OpenVINO: :class:`OpenVINOSession` (no providers)."""
    if not path.exists():
        raise UsageError(f"model file {path} does not exist")
    if not path.is_file():
        raise UsageError(f"model path {path} is not a file")
    if runtime == "openvino":
        if providers is not None:
            raise UsageError("--providers applies to --runtime onnxruntime; OpenVINO runs on its CPU device")
        return OpenVINOSession(path, threads)
    try:
        import onnxruntime as ort
    except ImportError:
        raise UsageError("onnxruntime is not installed; pip install onnxruntime (or use --runtime openvino)") from None
    providers = providers or ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    unknown = [p for p in providers if p not in available]
    if unknown:
        raise UsageError(f"execution provider(s) {unknown} not available; this onnxruntime has {available}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only: no optimizer warnings on stderr
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=list(providers))
    except Exception as err:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...) for unloadable files
        raise UsageError(f"cannot load {path} as an ONNX model: {_first_line(err)}") from None


def input_specs(session: Session, per_input: dict[str, dict[str, Any]]) -> list[InputSpec]:
    specs = []
    for node in session.get_inputs():
        if node.type not in DTYPES:
            raise UsageError(f"input {node.name!r} has type {node.type}, which this script cannot feed")
        if not node.shape:
            raise UsageError(f"input {node.name!r} is a scalar; a generator input needs a batch axis")
        meta = per_input.get(node.name, {})
        specs.append(
            InputSpec(node.name, np.dtype(DTYPES[node.type]), list(node.shape), meta.get("kind"), meta.get("shape"))
        )
    if not specs:
        raise UsageError("the model has no inputs")
    return specs


def synthesize(specs: Sequence[InputSpec], n: int, seed: int) -> Arrays:
    """``n`` samples per input: one-hot rows for labels, uniform [-1, 1] for images, a standard normal for other
    floats, {0, 1} for integers; drawn in graph-input order from one seeded generator."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in specs:
        shape = (n, *s.sample_shape())
        if s.kind == "label":
            if len(shape) < 2:
                raise UsageError(f"label input {s.name!r} has no class axis (graph shape {_fmt_shape(s.shape)})")
            arr = np.zeros(shape)
            classes = rng.integers(0, shape[-1], size=shape[:-1])
            np.put_along_axis(arr, classes[..., None], 1.0, axis=-1)
        elif np.issubdtype(s.dtype, np.floating):
            arr = rng.uniform(-1.0, 1.0, shape) if s.kind == "image" else rng.standard_normal(shape)
        else:
            arr = rng.integers(0, 2, size=shape)
        out[s.name] = arr.astype(s.dtype)
    return out


def load_inputs(path: Path, specs: Sequence[InputSpec]) -> tuple[Arrays, list[str]]:
    """The arrays of ``path`` (.npz) for the graph inputs, checked against the graph's static axes and cast."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"inputs file {path} does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise UsageError(f"cannot read {path} as a .npz archive: {_first_line(err)}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UsageError(
            f"{path} holds a single array; give a .npz with one array per input ({[s.name for s in specs]})"
        )
    with archive:
        try:
            arrays = {k: archive[k] for k in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise UsageError(f"cannot read {path}: {_first_line(err)}") from None
    names = [s.name for s in specs]
    missing = [n for n in names if n not in arrays]
    if missing:
        raise UsageError(
            f"{path} has no array for input(s) {missing}; it holds {sorted(arrays)}, the model needs {names}"
        )
    extra = sorted(set(arrays) - set(names))
    notes = [f"{path}: ignoring array(s) {extra}, which are not model inputs"] if extra else []
    out = {}
    for s in specs:
        a = arrays[s.name]
        wrong_axes = a.ndim != len(s.shape) or any(
            s.static(axis) is not None and a.shape[axis] != s.static(axis) for axis in range(1, a.ndim)
        )
        if wrong_axes:
            raise UsageError(
                f"{path}: array {s.name!r} has shape {a.shape}, but the model's input is {_fmt_shape(s.shape)} "
                "(first axis = sample)"
            )
        if a.shape[0] < 1:
            raise UsageError(f"{path}: array {s.name!r} has no samples")
        if not np.can_cast(a.dtype, s.dtype, casting="same_kind"):
            raise UsageError(f"{path}: array {s.name!r} is {a.dtype}, which does not cast to the input's {s.dtype}")
        out[s.name] = a.astype(s.dtype, copy=False)
    counts = {n: len(a) for n, a in out.items()}
    if len(set(counts.values())) > 1:
        raise UsageError(f"{path}: the arrays hold different numbers of samples {counts}")
    return out, notes


def take(arrays: Arrays, n: int) -> Arrays:
    """The first ``n`` samples of every array, cycling through them if there are fewer."""
    return {k: a[np.arange(n) % len(a)] for k, a in arrays.items()}


def run(session: Session, feeds: Arrays, chunk: int, fixed: bool, output: str | None = None) -> np.ndarray:
    """The first (or ``output``) output over all samples of ``feeds``, in chunks of ``chunk`` samples; with a fixed
    batch axis the last chunk is padded to it and trimmed afterwards."""
    n = len(next(iter(feeds.values())))
    outs = []
    for start in range(0, n, chunk):
        part = {k: a[start : start + chunk] for k, a in feeds.items()}
        m = len(next(iter(part.values())))
        if fixed and m < chunk:
            part = take(part, chunk)
        try:
            y = session.run([output] if output else None, part)[0]
        except Exception as err:  # the runtime's own error types
            raise InferenceError(f"inference failed: {_first_line(err)}") from None
        outs.append(np.asarray(y)[:m])
    return np.concatenate(outs)


def time_batch(session: Session, feeds: Arrays, rounds: int, warmup: int = WARMUP) -> list[float]:
    """Milliseconds per ``session.run`` on ``feeds`` (all outputs), over ``rounds`` runs after ``warmup`` runs."""
    times = []
    try:
        for _ in range(warmup):
            session.run(None, feeds)
        for _ in range(rounds):
            t0 = time.perf_counter()
            session.run(None, feeds)
            times.append((time.perf_counter() - t0) * 1e3)
    except Exception as err:  # the runtime's own error types
        raise InferenceError(f"inference failed: {_first_line(err)}") from None
    return times


def to_uint8(y: np.ndarray, output_range: tuple[float, float]) -> tuple[np.ndarray, str | None]:
    """(N, C, H, W) uint8 images with C ∈ {1, 3} from model outputs in ``output_range``, and a note if channels were
    dropped. (N, H, W) is taken as grayscale."""
    if y.ndim == 3:
        y = y[:, None]
    if y.ndim != 4 or 0 in y.shape:
        raise UsageError(f"the model's first output has shape {y.shape}; expected images (N, C, H, W)")
    if not np.issubdtype(y.dtype, np.number):
        raise UsageError(f"the model's first output is {y.dtype}, not numbers")
    c, note = y.shape[1], None
    if c not in (1, 3):
        keep = 3 if c > 3 else 1
        y = y[:, :keep]
        note = f"the output has {c} channels; the grid shows the first {keep} ({'RGB' if keep == 3 else 'grayscale'})"
    low, high = output_range
    x = np.nan_to_num((y.astype(np.float64) - low) / (high - low) * 255.0, nan=0.0)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8), note


def tile(images: np.ndarray, pad: int = PAD) -> np.ndarray:
    """(N, C, H, W) uint8 → one near-square grid (``ceil(sqrt(N))`` columns), ``pad`` px of black around every tile:
    (rows·(H+pad)+pad, cols·(W+pad)+pad) for C = 1, with a trailing axis of 3 for C = 3."""
    n, c, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, cols)
        y0, x0 = pad + r * (h + pad), pad + q * (w + pad)
        grid[y0 : y0 + h, x0 : x0 + w] = img.transpose(1, 2, 0)
    return grid[..., 0] if c == 1 else grid


def write_png(path: Path, image: np.ndarray) -> None:
    """Grayscale (H, W) or RGB (H, W, 3) uint8 → 8-bit PNG: filter type 0 on every row, one zlib IDAT, CRC per chunk."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"write_png needs uint8 (H, W) or (H, W, 3), got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), image.reshape(h, -1)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 0 if image.ndim == 2 else 2, 0, 0, 0)  # depth 8, gray 0 / RGB 2
    png = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        self.exit(2, f"{PROG}: error: {message} (see --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = _Parser(
        prog=PROG, description="Sample grid and batch latency of an ONNX generator, with ONNX Runtime or OpenVINO only."
    )
    p.add_argument("model", type=Path, help="the exported generator (.onnx)")
    p.add_argument(
        "--inputs", type=Path, help="generator inputs, one array per graph input (default MODEL.inputs.npz if present)"
    )
    p.add_argument("--num", type=_positive, default=64, help="samples in the grid (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of synthesised inputs (default 0)")
    p.add_argument("--grid", type=Path, help="output PNG (default MODEL.grid.png)")
    p.add_argument("--batch", type=_positive, default=16, help="batch size of the timed run (default 16)")
    p.add_argument("--rounds", type=_positive, default=20, help=f"timed runs, after {WARMUP} warm-up runs (default 20)")
    p.add_argument("--threads", type=_positive, default=1, help="intra-op / inference threads (default 1)")
    p.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime", help="the runtime (default onnxruntime)")
    p.add_argument(
        "--providers", help="comma-separated ONNX Runtime execution providers (default CPUExecutionProvider)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    return p.parse_args(argv)


def infer(args: argparse.Namespace) -> dict[str, Any]:
    """Everything but printing: load, pick inputs, write the grid, time a batch; returns the report."""
    model: Path = args.model
    providers = None if args.providers is None else [p.strip() for p in args.providers.split(",") if p.strip()]
    if providers == []:
        raise UsageError("--providers is empty")
    session = open_session(model, args.threads, providers, args.runtime)
    names = [node.name for node in session.get_inputs()]
    per_input, output_range, notes = parse_metadata(session.get_modelmeta().custom_metadata_map.get(META_KEY), names)
    specs = input_specs(session, per_input)

    inputs_path = args.inputs
    if inputs_path is None and model.with_suffix(".inputs.npz").is_file():
        inputs_path = model.with_suffix(".inputs.npz")
    if inputs_path is not None:
        pool, more = load_inputs(inputs_path, specs)
        notes += more
        source = f"{inputs_path} ({len(next(iter(pool.values())))} samples)"
    else:
        pool = synthesize(specs, args.num, args.seed)
        source = f"synthesised (seed {args.seed})"

    fixed = next((s.fixed_batch for s in specs if s.fixed_batch), None)
    batch = args.batch
    if fixed and fixed != batch:
        notes.append(f"the model's batch axis is fixed at {fixed}; timing batches of {fixed}, not {batch}")
        batch = fixed

    out_name = session.get_outputs()[0].name
    images, note = to_uint8(run(session, take(pool, args.num), fixed or batch, bool(fixed), out_name), output_range)
    if note:
        notes.append(note)
    grid_path: Path = args.grid or model.with_suffix(".grid.png")
    try:
        grid_path.parent.mkdir(parents=True, exist_ok=True)
        write_png(grid_path, tile(images))
    except OSError as err:
        raise UsageError(f"cannot write the grid {grid_path}: {err.strerror or err}") from None

    feeds = take(pool, batch)
    times = np.asarray(time_batch(session, feeds, args.rounds))
    p10, median, p90 = (float(v) for v in np.percentile(times, [10, 50, 90]))
    return {
        "model": str(model),
        "runtime": args.runtime,
        "providers": session.get_providers(),
        "inputs": {k: list(a.shape) for k, a in feeds.items()},
        "batch": batch,
        "threads": args.threads,
        "rounds": args.rounds,
        "latency_ms": {"median": median, "p10": p10, "p90": p90},
        "ms_per_sample": median / batch,
        "grid": str(grid_path),
        # not printed by --json (its keys are fixed): for the summary and stderr
        "_notes": notes,
        "_source": source,
        "_tiles": images.shape,
        "_kinds": {s.name: f" ({s.kind})" if s.kind else "" for s in specs},
    }


def summary(report: dict[str, Any]) -> str:
    n, c, h, w = report["_tiles"]
    lat = report["latency_ms"]
    shapes = ", ".join(
        f"{k} {'×'.join(map(str, v[1:])) or 'scalar'}{report['_kinds'][k]}" for k, v in report["inputs"].items()
    )
    threads = f"{report['threads']} thread{'s' if report['threads'] > 1 else ''}"
    return "\n".join([
        f"model    {report['model']} ({report['runtime']}: {', '.join(report['providers'])})",
        f"inputs   {shapes}; {report['_source']}",
        f"grid     {report['grid']}: {n} samples, {c}×{h}×{w} each",
        f"latency  batch {report['batch']}, {threads}: median {lat['median']:.3f} ms (p10 {lat['p10']:.3f}, "
        f"p90 {lat['p90']:.3f}) over {report['rounds']} runs = {report['ms_per_sample']:.4f} ms/sample",
    ])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = infer(args)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except InferenceError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    for note in report["_notes"]:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if not k.startswith("_")}))
    else:
        print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
