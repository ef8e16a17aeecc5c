"""gancompress.report.render: results JSON → report.md + report.html, best values, control rows, regenerate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gancompress.errors import UserError
from gancompress.report.imagegrid import save_image_grid
from gancompress.report.render import (
    format_table,
    load_results,
    regenerate,
    render_html,
    render_markdown,
    write_report,
)
from tests.report.sample import TagChecker, sample_results

# ---------------------------------------------------------------------------------------------------- formatting


def test_format_table_escapes_pipes() -> None:
    text = format_table([["a|b", 1.5], {"name": "c", "x": None}], ["name", "x"])
    assert text.splitlines() == ["| name | x |", "|---|---|", r"| a\|b | 1.500 |", "| c | – |"]


# ------------------------------------------------------------------------------------------------------- reports


def test_write_report_files_and_content(tmp_path: Path) -> None:
    save_image_grid(torch.zeros(4, 3, 8, 8), tmp_path / "samples" / "teacher.png", nrow=2)
    md_path, html_path = write_report(sample_results(), tmp_path)
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
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert "1.20" in "".join(checker.text)


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
    results = sample_results(sample_rel="samples/missing.png")  # missing image: linked, not embedded, no crash
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
    from gancompress.report.render import render_markdown

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
