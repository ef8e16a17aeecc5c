"""Dependency-free SVG line charts for training curves (the reports embed them inline; no matplotlib)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from gancompress.formatting import format_value
from gancompress.formatting import to_number as _num

MAX_POINTS = 500
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


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


def render_curves_svg(curves: Mapping[str, Sequence[Any]], title: str = "", width: int = 640, height: int = 300) -> str:
    """Draw named series of ``[step, value]`` points as one SVG line chart with a legend and min/max ticks.

    None/NaN/Inf points are skipped; each series is downsampled to at most 500 points. Linear axes.

    Example:
        >>> render_curves_svg({"g/loss": [[0, 1.0], [1, 0.5]]}).startswith("<svg")
        True
    """
    e = html.escape
    data = {str(k): _points(v) for k, v in curves.items()}
    left, right, top, bottom = 70, 160, 28 if title else 12, 36
    height = max(height, top + bottom + 16 * len(data))  # room for every legend entry
    pw, ph = width - left - right, height - top - bottom
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
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
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 <= y0:  # flat series: centre it
        d = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - d, y1 + d

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    axis = 'stroke="#444" stroke-width="1"'
    out += [
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" {axis}/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" {axis}/>',
        f'<text x="{left}" y="{top + ph + 16}" text-anchor="middle">{e(format_value(x0))}</text>',
        f'<text x="{left + pw}" y="{top + ph + 16}" text-anchor="middle">{e(format_value(x1))}</text>',
        f'<text x="{left + pw / 2:.1f}" y="{top + ph + 30}" text-anchor="middle" fill="#666">step</text>',
        f'<text x="{left - 6}" y="{top + ph}" text-anchor="end">{e(format_value(y0))}</text>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{e(format_value(y1))}</text>',
    ]
    for i, (name, pts) in enumerate(data.items()):
        color, ly = COLORS[i % len(COLORS)], top + 6 + 16 * i
        if pts:
            xy = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{xy}"/>')
        label = name if len(name) <= 22 else name[:21] + "…"
        out += [
            f'<line x1="{left + pw + 12}" y1="{ly}" x2="{left + pw + 32}" y2="{ly}" stroke="{color}" '
            f'stroke-width="2"/>',
            f'<text x="{left + pw + 38}" y="{ly + 4}">{e(label)}{"" if pts else " (no data)"}</text>',
        ]
    return "".join(out) + "</svg>"
