"""gancompress.report.svgchart: curves skip bad points and are downsampled."""

from __future__ import annotations

import re

from gancompress.report.render import (
    render_curves_svg,
)
from tests.report.sample import sample_results

# ------------------------------------------------------------------------------------------------------- reports


def test_svg_curves_skip_bad_points_and_downsample() -> None:
    svg = render_curves_svg(sample_results()["models"][0]["curves"], title="t")
    polylines = re.findall(r'points="([^"]*)"', svg)
    assert len(polylines) == 2
    assert len(polylines[0].split()) == 500 and len(polylines[1].split()) == 10
    assert "nan" not in svg.lower() and "g/loss" in svg and "d/loss" in svg
    assert "no data" in render_curves_svg({"x": [[0, None]]})
