"""Tests for gancompress.imagegrid (make_grid / save_image_grid) and gancompress.report (results JSON → md + HTML),
including the HTML layout a browser shows (scrolling tables, tie handling, chart ticks and colours) and, marked slow,
a headless-chromium screenshot of the rendered reports."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gancompress.errors import UserError
from gancompress.imagegrid import make_grid, save_image_grid
from gancompress.report import (
    format_table,
    format_value,
    load_results,
    metric_label,
    regenerate,
    render_curves_svg,
    render_html,
    render_markdown,
    write_report,
)
from gancompress.svgchart import nice_ticks, series_color, split_panels

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")


# --------------------------------------------------------------------------------------------- image grids
def test_grid_gray_shape_padding_and_values() -> None:
    imgs = torch.stack([torch.full((1, 4, 5), v) for v in (-1.0, 0.0, 1.0, 0.5)])
    grid = make_grid(imgs, nrow=2, padding=1, pad_value=-1.0)
    assert grid.shape == (2 * (4 + 1) + 1, 2 * (5 + 1) + 1) and grid.dtype == np.uint8
    assert (grid[0] == 0).all() and (grid[:, 0] == 0).all() and (grid[5] == 0).all()  # borders + separator
    assert (grid[1:5, 1:6] == 0).all()  # -1 → 0
    assert (grid[1:5, 7:12] == 128).all()  # 0 → 128
    assert (grid[6:10, 1:6] == 255).all()  # 1 → 255
    assert (grid[6:10, 7:12] == 191).all()  # 0.5 → round(191.25)


def test_grid_rgb_partial_last_row_and_clamping() -> None:
    imgs = torch.zeros(5, 3, 2, 2)
    imgs[0, 0] = 5.0  # out of range → clamped to 255 in red only
    imgs[1] = float("nan")  # NaN → mid-grey, not a crash
    grid = make_grid(imgs, nrow=3, padding=2)  # pad_value=1.0 → white
    assert grid.shape == (2 * (2 + 2) + 2, 3 * (2 + 2) + 2, 3)
    assert grid[2:4, 2:4].tolist() == [[[255, 128, 128]] * 2] * 2
    assert (grid[2:4, 6:8] == 128).all()
    assert (grid[6:8, 10:12] == 255).all()  # the empty 6th cell is pad-filled
    assert (grid[0] == 255).all()


def test_grid_single_image_fewer_than_nrow_and_bad_input() -> None:
    assert make_grid(torch.zeros(3, 8, 8), nrow=8, padding=0).shape == (8, 8, 3)
    assert make_grid(torch.zeros(2, 1, 8, 8), nrow=8, padding=2).shape == (12, 22)  # cols = min(nrow, N)
    with pytest.raises(ValueError, match="channels"):
        make_grid(torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match="empty"):
        make_grid(torch.zeros(0, 3, 8, 8))
    with pytest.raises(ValueError):
        make_grid(torch.zeros(8, 8))


@pytest.mark.parametrize(("channels", "mode"), [(1, "L"), (3, "RGB")])
def test_save_image_grid_png(tmp_path: Path, channels: int, mode: str) -> None:
    imgs = torch.rand(10, channels, 32, 32) * 2 - 1
    path = save_image_grid(imgs, tmp_path / "deep" / "dir" / "grid.png", nrow=4, scale=3)
    assert path.exists()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == mode
        assert im.size == (3 * (4 * 34 + 2), 3 * (3 * 34 + 2))
        arr = np.asarray(im)
    small = make_grid(imgs, nrow=4)
    assert np.array_equal(arr[::3, ::3], small)  # nearest-neighbour upscaling is exact
    with pytest.raises(ValueError, match="scale"):
        save_image_grid(imgs, tmp_path / "x.png", scale=0)


# --------------------------------------------------------------------------------------------- formatting
def test_format_value() -> None:
    assert format_value(1234567) == "1,234,567"
    assert format_value(2_000_000.0) == "2,000,000"
    assert format_value(12.3456) == "12.35"
    assert format_value(0.5) == "0.5000"
    assert format_value(0.0) == "0"
    assert format_value(None) == format_value(float("nan")) == "–"


def test_format_table_escapes_pipes() -> None:
    text = format_table([["a|b", 1.5], {"name": "c", "x": None}], ["name", "x"])
    assert text.splitlines() == ["| name | x |", "|---|---|", r"| a\|b | 1.500 |", "| c | – |"]


# --------------------------------------------------------------------------------------------- reports
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


class _TagChecker(HTMLParser):
    VOID = frozenset({"meta", "img", "br", "hr", "wbr", "link", "input", "polyline", "line", "rect", "path", "circle"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_write_report_files_and_content(tmp_path: Path) -> None:
    save_image_grid(torch.zeros(4, 3, 8, 8), tmp_path / "samples" / "teacher.png", nrow=2)
    md_path, html_path = write_report(_results(), tmp_path)
    assert md_path == tmp_path / "report.md" and html_path == tmp_path / "report.html"
    assert (tmp_path / "curves" / "teacher.svg").exists()
    assert (tmp_path / "results.json").exists()
    assert len(list((tmp_path / "curves").iterdir())) == 1  # only the model with curves

    md = md_path.read_text(encoding="utf-8")
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols == ["model", "method", "sparsity", "FID ↓", "KID ↓", "parameters", "FID / ref ↓", "paper FID", "flags"]
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.strip("|").split("|")] for r in md.splitlines()[1:]
            if r.startswith("| ") and not r.startswith("| model")}  # fmt: skip
    teacher, student = rows["teacher"], rows["&lt;script&gt;alert(1)&lt;/script&gt;"]
    assert teacher[2] == "0.0%" and student[2] == "50.0%"
    assert teacher[6] == "1.00" and student[6] == "1.20"  # fid 12 vs reference 10
    assert student[3] == "12.00 ± 0.40" and student[4] == "–" and teacher[5] == "3,500,000"
    assert student[7] == "11.50" and teacher[7] == "–" and student[8] == "collapse"
    assert "![teacher samples](samples/teacher.png)" in md
    assert "(curves/teacher.svg)" in md
    assert "## Samples" in md and "## Training curves" in md and "## Notes" in md and '"lr": 0.0002' in md
    assert "<script>" not in md

    page = html_path.read_text(encoding="utf-8")
    assert "<svg" in page and "data:image/png;base64," in page and 'href="samples/teacher.png"' in page
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Demo &lt;run&gt;" in page
    checker = _TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert "1.20" in "".join(checker.text)


def test_svg_curves_skip_bad_points_and_downsample() -> None:
    svg = render_curves_svg(_results()["models"][0]["curves"], title="t")
    polylines = re.findall(r'points="([^"]*)"', svg)
    assert len(polylines) == 2
    assert len(polylines[0].split()) == 500 and len(polylines[1].split()) == 10
    assert "nan" not in svg.lower() and "g/loss" in svg and "d/loss" in svg
    assert "no data" in render_curves_svg({"x": [[0, None]]})


def test_best_value_highlighted_among_compressed_models(tmp_path: Path) -> None:
    res = {
        "models": [
            {"name": "teacher", "metrics": {"fid": 1.0, "psnr": 40.0}},
            {"name": "a", "metrics": {"fid": 12.0, "psnr": 30.0}},
            {"name": "b", "metrics": {"fid": 11.0, "psnr": 20.0}},
        ]
    }
    md = render_markdown(res)
    assert "| **11.00** |" in md and "| **30.00** |" in md and "**1.000**" not in md and "**1.00**" not in md
    assert "| **11.00** | 20.00 | **11.00** |" in md  # ratio column (ref fid 1.0) follows fid's direction
    page = render_html(res, tmp_path)
    assert page.count("class='best'") == 3 and "class='ref'" in page


def test_regenerate_reproduces_markdown(tmp_path: Path) -> None:
    results = _results(sample_rel="samples/missing.png")  # missing image: linked, not embedded, no crash
    (tmp_path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    md_path, html_path = regenerate(tmp_path)
    assert md_path.read_text(encoding="utf-8") == render_markdown(results)
    assert 'src="samples/missing.png"' in html_path.read_text(encoding="utf-8")
    first = md_path.read_text(encoding="utf-8")
    write_report(load_results(tmp_path / "results.json"), tmp_path)
    assert regenerate(tmp_path)[0].read_text(encoding="utf-8") == first


def test_load_results_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no results file"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="not valid JSON"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text('{"models": [{"nome": "x"}]}', encoding="utf-8")
    with pytest.raises(UserError, match="name"):
        load_results(tmp_path)


def test_control_rows_are_never_best() -> None:
    from gancompress.report import render_markdown

    results = {
        "title": "t",
        "reference": "teacher",
        "columns": ["fid"],
        "models": [
            {"name": "teacher", "metrics": {"fid": 10.0}},
            {"name": "a", "metrics": {"fid": 12.0}},
            {"name": "b", "metrics": {"fid": 13.0}},
            {"name": "control", "metrics": {"fid": 9.0}, "control": True},
        ],
    }
    md = render_markdown(results)
    row = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    assert "**12.00**" in row["a"] and "**" not in row["control"]


# --------------------------------------------------------------------------------------------- layout (no browser)
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
        if tag not in _TagChecker.VOID:
            self.open.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag not in _TagChecker.VOID and self.open and self.open[-1][0] == tag:
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
    from test_reproduce import constructed_results

    from gancompress.report_table1 import HEADERS

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


# --------------------------------------------------------------------------------------------- layout (browser)
def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
             "--disable-component-update", f"--user-data-dir={profile}", "--window-size=1200,1600"]  # fmt: skip
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_reports_render_in_chromium_at_1200px(tmp_path: Path) -> None:
    from test_reproduce import constructed_results

    save_image_grid(torch.rand(16, 3, 8, 8) * 2 - 1, tmp_path / "demo" / "samples" / "teacher.png", nrow=4)
    models = [*_results()["models"], *_tie_results()["models"][1:]]
    (tmp_path / "t1").mkdir()
    (tmp_path / "t1" / "results.json").write_text(json.dumps(constructed_results(tmp_path / "t1")))
    probe = "<script>document.body.insertAdjacentHTML('beforeend', '<p id=probe>' + " \
            "(document.documentElement.scrollWidth <= window.innerWidth) + '</p>')</script></body>"  # fmt: skip
    for page in (write_report({**_results(), "models": models}, tmp_path / "demo")[1], regenerate(tmp_path / "t1")[1]):
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
