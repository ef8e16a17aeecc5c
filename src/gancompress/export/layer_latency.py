"""A per-layer latency table measured on this machine: what each conv / linear layer costs at a grid of widths.

docs/deploy.md "Latency table and speed targets". :meth:`LatencyTable.measure` records every Conv2d /
ConvTranspose2d / Linear layer's input shape (forward hooks, one pass at the table's batch), times a standalone layer
of the same geometry (random weights) at a grid of (in, out) channel widths, and times the whole model once:
``overhead = whole − Σ layers`` is what the non-conv ops (norms, activations, concatenations) cost.
:meth:`LatencyTable.predict` interpolates the grid bilinearly for any widths — fast enough to search pruning ratios
without timing each candidate. Tables are keyed by backend, threads, batch, torch version and CPU model, and cached
as JSON (:meth:`LatencyTable.cached`).

Example:
    >>> net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 3, 3, padding=1))
    >>> fake = lambda module, inputs: 1e-9 * sum(p.numel() for p in module.parameters())  # seconds per call
    >>> table = LatencyTable.measure(net, (torch.randn(1, 3, 8, 8),), timer=fake)
    >>> sorted(table.layers), table.layers["0"].ins, table.layers["0"].outs
    (['0', '2'], (1, 2, 3), (1, 2, 4, 6, 8, 10, 12, 14, 16))
    >>> table.predict({"0": (3, 8), "2": (8, 3)}) < table.predict({}) == table.whole_s
    True
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.export.module_timer import LAYER_TYPES, Timer, minus, module_timer
from gancompress.export.threads import torch_threads
from gancompress.files import write_json
from gancompress.pruning.counting import eval_mode

log = logging.getLogger(__name__)

BACKENDS = ("eager", "onnxruntime")
FRACTIONS = tuple(k / 8 for k in range(1, 9))  # the default grid: 1/8 … 8/8 of the full width per axis
FORMAT = 1


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()`` / ``machine()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table_key(backend: str, threads: int, batch: int) -> dict[str, Any]:
    """What a table's timings depend on: a cached table is reused only when all of it matches."""
    return {"backend": backend, "threads": threads, "batch": batch, "torch": torch.__version__, "cpu": cpu_model()}


def layer_widths(model: nn.Module) -> dict[str, tuple[int, int]]:
    """``{layer name: (in, out)}`` of every Conv2d / ConvTranspose2d / Linear in ``model`` (what :meth:`predict` takes).

    Example:
        >>> layer_widths(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(8, 2)))
        {'0': (3, 8), '1': (8, 2)}
    """
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            out[name] = (m.in_features, m.out_features)
        elif isinstance(m, LAYER_TYPES):
            out[name] = (m.in_channels, m.out_channels)
    return out


@dataclass(frozen=True)
class LayerSpec:
    """One layer's geometry and input size, enough to rebuild it standalone at other widths.

    ``spatial`` is the input's shape without batch and channel dims ((H, W) for a conv, the leading dims for a Linear);
    ``out_per_channel`` is the output elements per channel and sample (scales the non-conv overhead); ``calls`` how
    often one forward runs the layer.
    """

    kind: str
    in_channels: int
    out_channels: int
    spatial: tuple[int, ...]
    out_per_channel: int
    kernel_size: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: Any = ()
    dilation: tuple[int, ...] = ()
    output_padding: tuple[int, ...] = ()
    groups: int = 1
    bias: bool = True
    padding_mode: str = "zeros"
    calls: int = 1

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels == self.out_channels

    def build(self, c_in: int, c_out: int) -> nn.Module:
        """A fresh layer of this geometry with ``c_in`` → ``c_out`` channels (a depthwise one with groups = c_in)."""
        if self.kind == "Linear":
            return nn.Linear(c_in, c_out, bias=self.bias)
        groups = c_in if self.depthwise else self.groups
        common = dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=groups, bias=self.bias)
        if self.kind == "ConvTranspose2d":
            return nn.ConvTranspose2d(c_in, c_out, self.kernel_size, output_padding=self.output_padding, **common)
        return nn.Conv2d(c_in, c_out, self.kernel_size, padding_mode=self.padding_mode, **common)

    def example(self, c_in: int, batch: int) -> tuple[Tensor]:
        shape = (batch, *self.spatial, c_in) if self.kind == "Linear" else (batch, c_in, *self.spatial)
        return (torch.randn(shape),)

    def axis(self, full: int, fractions: Sequence[float]) -> tuple[int, ...]:
        """Grid widths along one axis: ``fractions`` of ``full`` rounded to multiples of 8 for wide layers (SIMD
        friendly, what pruning to round numbers yields), of 1 for narrow ones (< 64), of ``groups`` for grouped ones;
        the smallest unit is always included so heavily pruned widths are interpolated, not clamped."""
        unit = self.groups if self.groups > 1 and not self.depthwise else (8 if full >= 64 else 1)
        pts = {max(unit, unit * round(full * f / unit)) for f in fractions} | {unit, full}
        return tuple(sorted(p for p in pts if p <= full))


@dataclass(frozen=True)
class LayerTiming:
    """Seconds per forward of one layer (× its calls) on the grid ``ins`` × ``outs``; a depthwise layer's grid is 1-D
    (in = out = groups): ``outs`` is empty and ``seconds`` has one column."""

    spec: LayerSpec
    ins: tuple[int, ...]
    outs: tuple[int, ...]
    seconds: tuple[tuple[float, ...], ...]

    def at(self, c_in: float, c_out: float) -> float:
        """Bilinear interpolation on the grid (clamped to its edges)."""
        grid = np.asarray(self.seconds)
        if not self.outs:
            return float(np.interp(c_in, self.ins, grid[:, 0]))
        rows = [np.interp(c_out, self.outs, row) for row in grid]
        return float(np.interp(c_in, self.ins, rows))


@dataclass(frozen=True)
class LatencyTable:
    """Per-layer latency grid + whole-model latency of one model on this machine (see the module docstring)."""

    key: dict[str, Any]
    layers: dict[str, LayerTiming]
    whole_s: float
    overhead_s: float

    # ------------------------------------------------------------------------------------------------ predicting
    def predict(self, widths: Mapping[str, tuple[int, int]]) -> float:
        """Predicted seconds per forward with the given ``{layer: (in, out)}`` widths (missing layers: full width).

        A positive overhead is scaled by the fraction of conv / linear output elements left: the non-conv ops of a
        generator (norms, activations, concatenations) run on those outputs. A negative one (a backend fusing those
        ops into the convolutions runs the whole model faster than its layers alone) scales every layer by
        whole / Σ layers instead, so a prediction stays positive.
        """
        unknown = sorted(set(widths) - set(self.layers))
        if unknown:
            raise UserError(f"layers {', '.join(unknown)} are not in the latency table; measure it on this model")
        total = acts = dense_acts = 0.0
        for name, t in self.layers.items():
            c_in, c_out = widths.get(name, (t.spec.in_channels, t.spec.out_channels))
            total += t.at(c_in, c_out)
            acts += c_out * t.spec.out_per_channel * t.spec.calls
            dense_acts += t.spec.out_channels * t.spec.out_per_channel * t.spec.calls
        if self.overhead_s < 0:  # the whole model beats its layers (fusion, or noise): a share of every layer
            total *= self.whole_s / (self.whole_s - self.overhead_s)
        else:
            total += self.overhead_s * (acts / dense_acts if dense_acts else 1.0)
        return max(total, 1e-9)  # a table of lone layers all at the per-call floor still predicts a finite speed-up

    def predict_model(self, model: nn.Module) -> float:
        """:meth:`predict` with the widths read from ``model``'s layers (same layer names as the measured model)."""
        return self.predict({n: w for n, w in layer_widths(model).items() if n in self.layers})  # skip unused layers

    # ------------------------------------------------------------------------------------------------ measuring
    @classmethod
    def measure(
        cls,
        model: nn.Module,
        example_inputs: Sequence[Tensor],
        *,
        backend: str = "eager",
        threads: int = 1,
        batch: int = 1,
        widths: Sequence[float] | None = None,
        repeats: int = 5,
        min_sample_s: float = 0.002,
        budget_s: float = 3.0,
        timer: Timer | None = None,
    ) -> LatencyTable:
        """Measure the table of ``model`` (eval mode, its mode restored) for ``backend`` / ``threads`` / ``batch``.

        Args:
            model: The dense model.
            example_inputs: Inputs for ``model(*example_inputs)``; their first sample is repeated to ``batch``.
            backend: ``eager`` (``torch.set_num_threads(threads)``, restored afterwards) or ``onnxruntime`` (each layer
                exported to ONNX in memory; ``intra_op_num_threads=threads``, sequential execution).
            threads: CPU threads.
            batch: Batch size of every timing.
            widths: Grid fractions of each layer's full width per axis (default 1/8 … 8/8; see :meth:`LayerSpec.axis`).
            repeats: Timed samples per grid point (the median is kept); each sample averages as many calls as fit
                in ``min_sample_s`` (at least one).
            budget_s: Rough time budget per layer: a grid whose estimated cost (full-width point's wall time ×
                points, weighted by their MACs) exceeds it is thinned to every other point on its larger axis.
                Defaults (5 × 2 ms, 3 s) take about 1–3 s per layer at 81 points.
            timer: ``(module, inputs) -> seconds per call`` replacing the real timing (tests inject fake costs).
        """
        if backend not in BACKENDS:
            raise UserError(f"unknown latency backend {backend!r}; valid: {', '.join(BACKENDS)}")
        if threads < 1 or batch < 1 or repeats < 1:
            raise UserError("threads, batch and repeats must be >= 1")
        fractions = tuple(widths) if widths is not None else FRACTIONS
        if not fractions or any(not 0 < f <= 1 for f in fractions):
            raise UserError("latency grid widths must be fractions in (0, 1]")
        inputs = tuple(t[:1].repeat(batch, *([1] * (t.dim() - 1))) for t in example_inputs)
        time_fn = timer or module_timer(backend, threads, repeats, min_sample_s)
        # the eager backend's threads; ORT sessions set their own
        with torch_threads(threads), eval_mode(model), torch.inference_mode():
            specs = _capture(model, inputs)
            # one-time backend start-up off the budget; for ONNX Runtime this trivial layer's time is also the
            # cost of a session.run call, paid once by the whole model but by every lone layer: subtracted
            floor = time_fn(nn.Linear(8, 8), (torch.randn(batch, 8),))
            if backend == "onnxruntime" and timer is None:
                time_fn = minus(time_fn, floor)
                log.info("latency table onnxruntime: %.3g s per session call subtracted from each layer", floor)
            layers = {}
            for i, (name, spec) in enumerate(specs.items()):
                start = time.perf_counter()
                layers[name] = _measure_layer(spec, fractions, batch, time_fn, budget_s)
                log.info(
                    "latency table %s: layer %d/%d %s (%s %d→%d, %d×%d points) in %.1f s", backend, i + 1,
                    len(specs), name, spec.kind, spec.in_channels, spec.out_channels, len(layers[name].ins),
                    max(1, len(layers[name].outs)), time.perf_counter() - start,
                )  # fmt: skip
            # measured once, so with more and longer samples than a grid point
            whole = (timer or module_timer(backend, threads, max(repeats, 7), 10 * min_sample_s))(model, inputs)
        dense = sum(t.at(t.spec.in_channels, t.spec.out_channels) for t in layers.values())
        log.info("latency table %s: whole %.3g s, layers %.3g s, overhead %.3g s", backend, whole, dense, whole - dense)
        return cls(table_key(backend, threads, batch), layers, whole, whole - dense)

    @classmethod
    def cached(
        cls, path: str | Path, model: nn.Module, example_inputs: Sequence[Tensor], **kwargs: Any
    ) -> LatencyTable:
        """The table at ``path`` if its key and layers match ``model`` and ``kwargs``; else measure and write it.

        Example:
            >>> table = LatencyTable.cached("run/latency_table.json", g, (z,), backend="eager")  # doctest: +SKIP
        """
        path = Path(path)
        key = table_key(kwargs.get("backend", "eager"), kwargs.get("threads", 1), kwargs.get("batch", 1))
        if path.is_file():
            try:
                table = cls.from_json(path.read_text())
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable latency table %s: %s", path, exc)
            else:
                full = {n: (t.spec.in_channels, t.spec.out_channels) for n, t in table.layers.items()}
                if table.key == key and full == {n: w for n, w in layer_widths(model).items() if n in full}:
                    return table
                log.info("latency table %s was measured for another key or model: measuring again", path)
        table = cls.measure(model, example_inputs, **kwargs)
        write_json(path, table.to_dict())
        return table

    # ------------------------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        layers = {
            n: {"spec": asdict(t.spec), "ins": t.ins, "outs": t.outs, "seconds": t.seconds}
            for n, t in self.layers.items()
        }
        return {
            "format": FORMAT,
            "key": self.key,
            "whole_s": self.whole_s,
            "overhead_s": self.overhead_s,
            "layers": layers,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> LatencyTable:
        """The table :meth:`to_json` wrote (``ValueError`` for another format)."""
        obj = json.loads(text)
        if obj.get("format") != FORMAT:
            raise ValueError(f"latency table format {obj.get('format')!r}, expected {FORMAT}")
        layers = {}
        for name, t in obj["layers"].items():
            spec = {k: tuple(v) if isinstance(v, list) else v for k, v in t["spec"].items()}
            seconds = tuple(tuple(float(s) for s in row) for row in t["seconds"])
            layers[name] = LayerTiming(LayerSpec(**spec), tuple(t["ins"]), tuple(t["outs"]), seconds)
        return cls(dict(obj["key"]), layers, float(obj["whole_s"]), float(obj["overhead_s"]))

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        return cls.from_json(Path(path).read_text())


# ---------------------------------------------------------------------------------------------------- internals
def _capture(model: nn.Module, inputs: tuple[Tensor, ...]) -> dict[str, LayerSpec]:
    """Every conv / linear layer's spec from one forward (hooks; a layer called twice counts its calls)."""
    found: dict[str, LayerSpec] = {}

    def hook(name: str) -> Callable[..., None]:
        def fn(mod: nn.Module, args: tuple[Any, ...], output: Tensor) -> None:
            if name in found:
                found[name] = LayerSpec(**{**asdict(found[name]), "calls": found[name].calls + 1})
                return
            x = args[0]
            if isinstance(mod, nn.Linear):
                spatial, out_per = tuple(x.shape[1:-1]), math.prod(output.shape[1:-1])
                found[name] = LayerSpec(
                    "Linear", mod.in_features, mod.out_features, spatial, out_per, bias=mod.bias is not None
                )
                return
            geometry = {k: getattr(mod, k) for k in ("kernel_size", "stride", "padding", "dilation", "groups")}
            if isinstance(mod, nn.ConvTranspose2d):
                geometry["output_padding"] = mod.output_padding
            found[name] = LayerSpec(
                type(mod).__name__, mod.in_channels, mod.out_channels, tuple(x.shape[2:]), math.prod(output.shape[2:]),
                bias=mod.bias is not None, padding_mode=mod.padding_mode, **geometry,
            )  # fmt: skip

        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, LAYER_TYPES)]
    try:
        model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return found


def _measure_layer(
    spec: LayerSpec, fractions: Sequence[float], batch: int, time_fn: Timer, budget_s: float
) -> LayerTiming:
    def cost(c_in: int, c_out: int) -> float:
        torch.manual_seed(0)
        layer = spec.build(c_in, c_out).eval()
        return time_fn(layer, spec.example(c_in, batch)) * spec.calls

    ins = spec.axis(spec.in_channels, fractions)
    outs = () if spec.depthwise else spec.axis(spec.out_channels, fractions)
    start = time.perf_counter()
    full = cost(spec.in_channels, spec.out_channels)
    wall = time.perf_counter() - start
    while True:  # DECISION: thin the grid rather than exceed the budget; interpolation copes with a coarser grid
        points = [(i, o) for i in ins for o in outs] if outs else [(i, i) for i in ins]
        weight = sum(max(0.3, i * o / (spec.in_channels * spec.out_channels)) for i, o in points)
        if wall * weight <= budget_s or max(len(ins), len(outs)) <= 2:
            break
        if len(ins) >= len(outs):
            ins = ins[-1::-2][::-1]
        else:
            outs = outs[-1::-2][::-1]
    grid = np.empty((len(ins), max(1, len(outs))))
    for a, c_in in enumerate(ins):
        for b, c_out in enumerate(outs or (c_in,)):
            full_point = c_in == spec.in_channels and c_out == spec.out_channels
            grid[a, b] = full if full_point else cost(c_in, c_out)
    # DECISION: latency taken as non-decreasing in both widths, so a bisection over pruning ratios sees a monotone
    # prediction: each point becomes the minimum over itself and every wider point. Noise on a shared CPU is mostly
    # spikes (preemption); a running maximum would spread one spike at a narrow point over the whole grid
    grid = np.minimum.accumulate(np.minimum.accumulate(grid[::-1, ::-1], axis=0), axis=1)[::-1, ::-1]
    return LayerTiming(spec, ins, outs, tuple(tuple(float(s) for s in row) for row in grid))
