"""experiments/table1/report.py: the report regenerates from a constructed table1 results.json (no training)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from gancompress.report.formatting import DASH
from gancompress.report.render import regenerate
from tests.experiments.table1.constructed import constructed_results

# ---------------------------------------------------------------------------------------------- results + report


def test_report_regenerates_from_table1_results_json(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(constructed_results(tmp_path)))
    md, page = regenerate(tmp_path)
    text = md.read_text()
    assert "| row | method | budget | seeds | FID ↓ (± 95 % CI) | FID / G_O" in text and "## Outcome" in text
    assert f"| b | self_supervised | {DASH} | 2 | 2.500 ± 1.3 | 1.25 | 1.16 |" in text
    assert "Verdict thresholds" in text
    assert "![self_supervised samples](samples/x_s0.png)" in text
    assert (tmp_path / "curves" / "self_supervised_losses.svg").is_file()
    assert (tmp_path / "curves" / "self_supervised_entropy.svg").read_text().startswith("<svg")

    imgs: list[str] = []

    class Check(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "img":
                imgs.append(dict(attrs)["src"])

    Check().feed(page.read_text())
    assert imgs and all(src.startswith("data:image/png;base64,") for src in imgs)
