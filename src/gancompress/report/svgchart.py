"""Dependency-free SVG line charts for training curves (the reports embed them inline; no matplotlib).

:func:`render_curves_svg` draws one chart; :func:`render_panels_svg` splits a model's curves into one panel per scale
(losses, D health, sparsity) so a series in [0, 1] is not flattened against a loss of 7. Every series name has one
colour in every chart (:func:`series_color`), so a reader comparing two models compares like with like.

Example:
    >>> render_panels_svg({"g/loss": [[0, 1.0], [1, 0.5]], "diag/d_acc": [[0, 0.9], [1, 0.8]]}).count("<svg")
    3
"""

from __future__ import annotations

import html
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from gancompress.report.formatting import format_value
from gancompress.report.formatting import to_number as _num

MAX_POINTS = 500
#: a series with at most this many points gets a marker on each: a one-point curve (a short run) draws no line
MARKER_MAX_POINTS = 20
#: two series closer than this (pixels) at every step are drawn as "overlapping": the later one dashed on top
OVERLAP_PX = 1.5
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
#: the series the trainers log, each with a fixed colour (distinct within a panel); D's own view of real / fake data
#: shares the colour of the matching loss term
SERIES_COLORS = {
    "g/loss": "#1f77b4", "d/loss": "#ff7f0e", "g/gen": "#2ca02c", "g/gc": "#9467bd", "g/dc": "#8c564b",
    "d/real": "#d62728", "d/fake": "#e377c2", "diag/d_real": "#d62728", "diag/d_fake": "#e377c2",
    "diag/d_acc": "#17becf", "diag/d_entropy": "#bcbd22", "sparsity": "#1f77b4", "d_sparsity": "#ff7f0e",
}  # fmt: skip
#: panel order; a series goes to the first panel whose test accepts it (see :func:`panel_of`)
PANELS = ("losses", "D health", "sparsity", "other")
LEGEND_W = 150


def series_color(name: str) -> str:
    """The colour of a series in every chart: fixed for known names, else from a hash of the name (not its order)."""
    return SERIES_COLORS.get(name) or COLORS[zlib.crc32(name.encode("utf-8")) % len(COLORS)]


def panel_of(name: str) -> str:
    """Which panel (:data:`PANELS`) a series belongs to: values of one scale share a panel."""
    if "sparsity" in name:
        return "sparsity"
    if name.startswith("diag/"):
        return "D health"  # probabilities, accuracy and entropy in bits: all in [0, 1]
    if name.startswith(("g/", "d/")) or "loss" in name:
        return "losses"
    return "other"


def _points(series: Sequence[Any]) -> list[tuple[float, float]]:
    pts = []
    for i, p in enumerate(series or []):
        x, y = (p[0], p[1]) if isinstance(p, (list, tuple)) and len(p) >= 2 else (i, p)
        x, y = _num(x), _num(y)
        if x is not None and y is not None:
            pts.append((x, y))
    if len(pts) > MAX_POINTS:  # evenly strided, always keeping the first and last point
        pts = [pts[round(i * (len(pts) - 1) / (MAX_POINTS - 1))] for i in range(MAX_POINTS)]
    return pts


def nice_ticks(lo: float, hi: float, n: int = 5, integer: bool = False, extend: bool = False) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart) within [lo, hi] — or, with ``extend``, the smallest such run that
    covers it; whole numbers only when ``integer`` (training steps).

    Example:
        >>> nice_ticks(20, 800, n=4, integer=True), nice_ticks(1, 2, integer=True), nice_ticks(0.06, 7, 4, extend=True)
        ([200, 400, 600, 800], [1, 2], [0, 2, 4, 6, 8])
    """
    raw = (hi - lo) / max(n, 1) or 1.0
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    step = max(round(step), 1) if integer else step
    first = math.floor(lo / step + 1e-9) if extend else math.ceil(lo / step - 1e-9)
    last = math.ceil(hi / step - 1e-9) if extend else math.floor(hi / step + 1e-9)
    return [k * step if integer else round(k * step, 12) for k in range(first, last + 1)]


def _tick_label(t: float, step: float, integer: bool) -> str:
    if integer:
        return f"{round(t):,}"
    if abs(t) >= 1e4 or (t and abs(t) < 1e-3):
        return format_value(t, 3)
    return f"{t:.{max(0, -math.floor(math.log10(step) + 1e-9))}f}"


def _overlaps(a: list[tuple[float, float]], b: list[tuple[float, float]], sy: Any) -> bool:
    return len(a) == len(b) and all(
        xa == xb and abs(sy(ya) - sy(yb)) < OVERLAP_PX for (xa, ya), (xb, yb) in zip(a, b, strict=False)
    )


def _chart_height(n_series: int, titled: bool, height: int) -> int:
    return max(height, (28 if titled else 12) + 36 + 16 * n_series)  # room for every legend entry


def render_curves_svg(
    curves: Mapping[str, Sequence[Any]], title: str = "", width: int = 640, height: int = 300, x: int = 0, y: int = 0
) -> str:
    """Draw named series of ``[step, value]`` points as one SVG line chart with a legend, round y ticks and whole-step
    x ticks.

    None/NaN/Inf points are skipped; each series is downsampled to at most 500 points. Linear axes. A series that lies
    on top of an earlier one is drawn dashed over it and its legend entry names it ("= g/loss", or "≈" when only
    close); short series get point markers. Each series is a ``<g data-series="name">``; tick labels carry
    ``class="xtick"`` / ``"ytick"``. ``x`` / ``y`` place the chart when it is nested in a larger SVG
    (:func:`render_panels_svg`).

    Example:
        >>> render_curves_svg({"g/loss": [[0, 1.0], [1, 0.5]]}).startswith("<svg")
        True
    """
    e = html.escape
    data = {str(k): _points(v) for k, v in curves.items()}
    left, right, top, bottom = 58, LEGEND_W + 10, 28 if title else 12, 36
    height = _chart_height(len(data), bool(title), height)
    pw, ph = width - left - right, height - top - bottom
    pos = f'x="{x}" y="{y}" ' if x or y else ""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" {pos}width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    if title:
        out.append(f'<text x="{left + pw / 2:.1f}" y="18" text-anchor="middle" font-size="13">{e(title)}</text>')
    allp = [p for pts in data.values() for p in pts]
    if not allp:
        out.append(f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle">no data</text></svg>')
        return "".join(out)
    x0, x1 = min(p[0] for p in allp), max(p[0] for p in allp)
    y0, y1 = min(p[1] for p in allp), max(p[1] for p in allp)
    if x1 <= x0:  # one step: centre it between its neighbours
        x0, x1 = x0 - 1, x1 + 1
    if y1 <= y0:  # flat series: centre it
        d = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - d, y1 + d
    integer_x = all(float(p[0]).is_integer() for p in allp)  # steps: whole-number ticks, never "20.00"
    xt = nice_ticks(x0, x1, n=max(2, pw // 60), integer=integer_x) or [x0, x1]  # a narrow range: label its ends
    xstep = xt[1] - xt[0] if len(xt) > 1 else x1 - x0
    yt = nice_ticks(y0, y1, n=max(2, ph // 45), extend=True)  # the y axis starts and ends on a labelled tick
    ystep, y0, y1 = yt[1] - yt[0], yt[0], yt[-1]

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return top + ph - (v - y0) / (y1 - y0) * ph

    grid, axis = 'stroke="#e6e6e6" stroke-width="1"', 'stroke="#444" stroke-width="1"'
    for t in yt:
        label = e(_tick_label(t, ystep, False))
        out.append(f'<line x1="{left}" y1="{sy(t):.1f}" x2="{left + pw}" y2="{sy(t):.1f}" {grid}/>')
        out.append(f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" class="ytick">{label}</text>')
    for t in xt:
        label = e(_tick_label(t, xstep, integer_x))
        out.append(f'<line x1="{sx(t):.1f}" y1="{top + ph}" x2="{sx(t):.1f}" y2="{top + ph + 4}" {axis}/>')
        out.append(f'<text x="{sx(t):.1f}" y="{top + ph + 16}" text-anchor="middle" class="xtick">{label}</text>')
    out += [
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" {axis}/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" {axis}/>',
        f'<text x="{left + pw / 2:.1f}" y="{top + ph + 30}" text-anchor="middle" fill="#666">step</text>',
    ]
    used: set[str] = set()
    drawn: list[tuple[str, list[tuple[float, float]]]] = []
    for i, (name, pts) in enumerate(data.items()):
        color, ly = series_color(name), top + 6 + 16 * i
        same = next((n for n, p in drawn if pts and _overlaps(p, pts, sy)), None)
        # dashed over its twin so both colours show; dotted when a hashed colour repeats within this chart
        dash = ' stroke-dasharray="6 5"' if same else ' stroke-dasharray="2 3"' if color in used else ""
        used.add(color)
        out.append(f'<g data-series="{e(name)}">')  # one group per series: its line, markers and legend entry
        if len(pts) > 1:
            xy = " ".join(f"{sx(px):.1f},{sy(py):.1f}" for px, py in pts)
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="{xy}"/>')
        if 0 < len(pts) <= MARKER_MAX_POINTS:  # hollow and larger over a twin, so the earlier dot stays visible
            style = f'r="4" fill="none" stroke="{color}" stroke-width="1.5"' if same else f'r="2.5" fill="{color}"'
            out += [f'<circle cx="{sx(px):.1f}" cy="{sy(py):.1f}" {style}/>' for px, py in pts]
        drawn.append((name, pts))
        label = name if len(name) <= 20 else name[:19] + "…"
        twin = dict(drawn).get(same or "")
        note = " (no data)" if not pts else f" ({'=' if twin == pts else '≈'} {same})" if same else ""
        out += [
            f'<line x1="{left + pw + 12}" y1="{ly}" x2="{left + pw + 32}" y2="{ly}" stroke="{color}" '
            f'stroke-width="2"{dash}/>',
            f'<text x="{left + pw + 38}" y="{ly + 4}">{e(label)}{e(note)}</text></g>',
        ]
    return "".join(out) + "</svg>"


def split_panels(curves: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Sequence[Any]]]:
    """``{panel: {series: points}}`` in :data:`PANELS` order, empty panels left out."""
    panels: dict[str, dict[str, Sequence[Any]]] = {p: {} for p in PANELS}
    for name, pts in curves.items():
        panels[panel_of(str(name))][str(name)] = pts
    return {p: sel for p, sel in panels.items() if sel}


def render_panels_svg(
    curves: Mapping[str, Sequence[Any]],
    title: str = "",
    panel_width: int = 520,
    panel_height: int = 240,
    columns: int = 2,
) -> str:
    """One SVG holding a chart per panel (:func:`split_panels`), ``columns`` to a row, each titled ``title — panel``."""
    panels = list((split_panels(curves) or {"": {}}).items())
    out, top = [], 0
    for start in range(0, len(panels), columns):
        row = panels[start : start + columns]
        for k, (name, sel) in enumerate(row):
            label = " — ".join(t for t in (title, name) if t)
            out.append(
                render_curves_svg(sel, title=label, width=panel_width, height=panel_height, x=k * panel_width, y=top)
            )
        top += max(_chart_height(len(sel), bool(title or name), panel_height) for name, sel in row)
    width = panel_width * min(columns, len(panels))
    head = f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top}" viewBox="0 0 {width} {top}">'
    return head + "".join(out) + "</svg>"
