"""gancompress.report.svgchart: curves skip bad points and are downsampled."""

from __future__ import annotations

import math
import re

import torch

from gancompress.report.render import (
    render_curves_svg,
)

# ------------------------------------------------------------------------------------------------------- reports


def _results(sample_rel: str = "samples/teacher.png") -> dict:
    n = 1200  # > 500 points to exercise downsampling
    return {
        "title": "Demo <run>",
        "created": "2026-01-01T00:00:00",
        "summary": ["student keeps quality"],
        "reference": "teacher",
        "columns": ["fid", "kid", "params"],
        "models": [
            {
                "name": "teacher",
                "method": "dense",
                "sparsity": 0.0,
                "metrics": {"fid": 10.0, "kid": 0.01, "params": 3_500_000},
                "samples": sample_rel,
                "curves": {
                    "g/loss": [[i, math.sin(i / 50)] for i in range(n)] + [[n, None], [n + 1, float("nan")]],
                    "d/loss": [[i, 0.5] for i in range(10)],
                },
            },
            {
                "name": "<script>alert(1)</script>",
                "method": "self_supervised",
                "sparsity": 0.5,
                "metrics": {"fid": 12.0, "fid_ci95": 0.4, "kid": None, "params": 1_750_000},
                "flags": ["collapse"],
                "paper_fid": 11.5,
            },
        ],
        "config": {"lr": 2e-4},
        "env": {"torch": torch.__version__},
        "notes": ["a note"],
    }


def test_svg_curves_skip_bad_points_and_downsample() -> None:
    svg = render_curves_svg(_results()["models"][0]["curves"], title="t")
    polylines = re.findall(r'points="([^"]*)"', svg)
    assert len(polylines) == 2
    assert len(polylines[0].split()) == 500 and len(polylines[1].split()) == 10
    assert "nan" not in svg.lower() and "g/loss" in svg and "d/loss" in svg
    assert "no data" in render_curves_svg({"x": [[0, None]]})
