"""The HTML reports' layout (gancompress.report.html and every renderer): tables scroll, ties are not "best", headers
are readable — checked on the markup and, where Chromium is installed, in a browser at 1200 px.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gancompress.report.imagegrid import save_image_grid
from gancompress.report.render import (
    metric_label,
    regenerate,
    render_markdown,
    write_report,
)
from gancompress.report.svgchart import nice_ticks, series_color, split_panels
from tests.clirun import ROOT
from tests.experiments.table1.constructed import constructed_results
from tests.report.sample import TagChecker, sample_results

CHROMIUM = Path("/usr/bin/chromium")


# ------------------------------------------------------------------------------------------- layout (no browser)


class _Layout(HTMLParser):
    """What a browser would lay out: where each table sits, highlighted / wrapping cells, chart ticks and colours."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.open: list[tuple[str, dict[str, str]]] = []
        self.unscrolled, self.style, self.col = 0, "", -1
        self.best: list[list[int]] = []  # per table: the column of every highlighted cell
        self.text_cols: list[set[int]] = []  # per table: columns of wrapping free text
        self.ticks: dict[str, list[str]] = {"xtick": [], "ytick": []}
        self.colors: dict[str, set[str]] = {}  # series name → every colour its elements use, over all charts
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a, classes = {k: v or "" for k, v in attrs}, dict(attrs).get("class", "").split()
        if tag == "table":
            self.unscrolled += not any(t == "div" and "scroll" in o.get("class", "") for t, o in self.open)
            self.best.append([])
            self.text_cols.append(set())
        self.col = -1 if tag == "tr" else self.col + (tag in ("td", "th"))
        if tag == "td" and "best" in classes:
            self.best[-1].append(self.col)
        if tag in ("td", "th") and "text" in classes:
            self.text_cols[-1].add(self.col)
        series = [o["data-series"] for _, o in [*self.open, (tag, a)] if "data-series" in o]
        if series:
            self.colors.setdefault(series[-1], set()).update({a.get("stroke"), a.get("fill")} - {None, "none", "white"})
        if tag not in TagChecker.VOID:
            self.open.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag not in TagChecker.VOID and self.open and self.open[-1][0] == tag:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        tag, a = self.open[-1] if self.open else ("", {})
        self.style += data if tag == "style" else ""
        if tag == "text" and a.get("class") in self.ticks:
            self.ticks[a["class"]].append(data)


def _assert_readable(page: str) -> _Layout:
    """The browser-free layout contract every report keeps (report_html.py, svgchart.py)."""
    layout = _Layout(page)
    assert layout.best and layout.unscrolled == 0  # every table scrolls sideways instead of being cut off
    assert ".scroll{overflow-x:auto" in layout.style
    assert all(len(cols) == len(set(cols)) for cols in layout.best)  # ≤ 1 best cell per column: a tie has none
    assert all(re.fullmatch(r"-?\d{1,3}(,\d{3})*", t) for t in layout.ticks["xtick"])  # whole steps, e.g. "1,000"
    assert all(len(c) == 1 for c in layout.colors.values()), layout.colors  # one colour per series, every chart
    return layout


def _tie_results() -> dict:
    """A reference and three compressed models (a and b tie on FID and on class coverage), curves of every scale."""
    steps = range(0, 1001, 50)
    curves = {"g/loss": [[s, 4 / (1 + s / 100)] for s in steps], "d/loss": [[s, 0.5] for s in steps],
              "g/gen": [[s, 4 / (1 + s / 100)] for s in steps],  # equals g/loss: must not vanish under it
              "diag/d_acc": [[s, 0.7] for s in steps], "diag/d_entropy": [[s, 0.9 - s / 5000] for s in steps],
              "sparsity": [[s, min(0.5, s / 1000)] for s in steps]}  # fmt: skip
    m = {"method": "m", "sparsity": 0.5}
    return {"title": "ties", "columns": ["fid", "class_coverage", "fidelity_psnr"],
            "higher_is_better": {"class_coverage": True}, "models": [
        {"name": "teacher", "metrics": {"fid": 10.0, "class_coverage": 1.0}, "curves": curves},
        {**m, "name": "a", "metrics": {"fid": 12.0, "class_coverage": 0.9, "fidelity_psnr": 30.0}},
        {**m, "name": "b", "metrics": {"fid": 12.0, "class_coverage": 0.9, "fidelity_psnr": 25.0}},
        {**m, "name": "c", "metrics": {"fid": 13.0, "class_coverage": 0.8, "fidelity_psnr": 20.0},
         "curves": {"g/loss": [[0, 1.0]], "diag/d_acc": [[0, 0.5]]}},  # one point: a marker, not nothing
    ]}  # fmt: skip


def test_html_layout_tables_scroll_ties_not_best_readable_headers(tmp_path: Path) -> None:
    page = write_report(_tie_results(), tmp_path)[1].read_text(encoding="utf-8")
    layout = _assert_readable(page)
    headers = ["model", "method", "sparsity", "FID ↓", "class coverage ↑", "fidelity PSNR (dB) ↑", "FID / ref ↓"]
    assert all(f">{h}</th>" in page for h in headers) and layout.text_cols == [{1}]
    assert layout.best == [[headers.index("fidelity PSNR (dB) ↑")]]  # FID, its ratio and coverage: a and b tie
    md = render_markdown(_tie_results())
    assert "**12.00**" not in md and "**0.9000**" not in md and "**30.00**" in md
    assert "| " + " | ".join(headers) + " |" in md
    assert metric_label("params") == "parameters" and metric_label("some_new_metric") == "some new metric"
    # one panel per scale, whole-step ticks, the twin series dashed on top and named in the legend, markers on short
    # series, a stable colour per name
    for panel in ("teacher — losses", "teacher — D health", "teacher — sparsity", "c — losses", "c — D health"):
        assert f">{panel}</text>" in page
    assert layout.ticks["xtick"][:3] == ["0", "200", "400"] and "1,000" in layout.ticks["xtick"]
    assert "g/gen (= g/loss)" in page and 'stroke-dasharray="6 5"' in page and page.count("<circle") >= 2
    assert layout.colors["g/loss"] == {series_color("g/loss")} != {series_color("d/loss")}
    assert (tmp_path / "curves" / "teacher.svg").read_text(encoding="utf-8").count("<svg") == 4  # 3 panels + frame
    assert nice_ticks(0, 1, n=5, integer=True) == [0, 1] and nice_ticks(0.06, 7.0, n=4, extend=True) == [0, 2, 4, 6, 8]
    panels = split_panels({k: [] for k in ("sparsity", "diag/d_real", "g/loss", "lr")})
    assert list(panels) == ["losses", "D health", "sparsity", "other"]


def test_table1_and_sweep_reports_keep_the_layout(tmp_path: Path) -> None:

    from gancompress.experiments.table1.outcome import HEADERS

    (tmp_path / "t1").mkdir()
    (tmp_path / "t1" / "results.json").write_text(json.dumps(constructed_results(tmp_path / "t1")))
    layout = _assert_readable(regenerate(tmp_path / "t1")[1].read_text(encoding="utf-8"))
    assert {HEADERS.index("flag"), HEADERS.index("false positive")} <= layout.text_cols[0]  # long text wraps
    sweep = ROOT / "results" / "table2-stargan-quick" / "results.json"
    if not sweep.is_file():
        pytest.skip("no committed Table 2 results to render")
    (tmp_path / "t2").mkdir()
    shutil.copy(sweep, tmp_path / "t2" / "results.json")
    _assert_readable(regenerate(tmp_path / "t2")[1].read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------- layout (browser)


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
             "--disable-component-update", f"--user-data-dir={profile}", "--window-size=1200,1600"]  # fmt: skip
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_reports_render_in_chromium_at_1200px(tmp_path: Path) -> None:

    save_image_grid(torch.rand(16, 3, 8, 8) * 2 - 1, tmp_path / "demo" / "samples" / "teacher.png", nrow=4)
    models = [*sample_results()["models"], *_tie_results()["models"][1:]]
    (tmp_path / "t1").mkdir()
    (tmp_path / "t1" / "results.json").write_text(json.dumps(constructed_results(tmp_path / "t1")))
    probe = "<script>document.body.insertAdjacentHTML('beforeend', '<p id=probe>' + " \
            "(document.documentElement.scrollWidth <= window.innerWidth) + '</p>')</script></body>"  # fmt: skip
    for page in (
        write_report({**sample_results(), "models": models}, tmp_path / "demo")[1],
        regenerate(tmp_path / "t1")[1],
    ):
        shot = page.with_suffix(".png")
        run = _chromium(f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "profile")
        assert shot.is_file(), run.stderr[-2000:]
        with Image.open(shot) as im:
            assert im.size[0] == 1200
            gray = np.asarray(im.convert("L"), dtype=np.float32)
        assert gray.std() > 10 and (gray < 128).mean() > 0.005  # text, tables and charts drawn, not a blank page
        # the page itself never scrolls sideways: a wide table scrolls inside its own container
        page.with_name("probe.html").write_text(page.read_text(encoding="utf-8").replace("</body>", probe))
        dom = _chromium("--dump-dom", page.with_name("probe.html").as_uri(), profile=tmp_path / "profile").stdout
        assert '<p id="probe">true</p>' in dom, dom[-500:]
