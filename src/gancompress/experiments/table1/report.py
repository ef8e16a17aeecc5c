"""``reproduce table1`` results → ``report.md`` + ``report.html`` (+ ``curves/<row>_{losses,entropy}.svg``).

Rendered only from ``results.json`` (schema in :mod:`gancompress.experiments.table1.results`);
registered as the ``"table1"`` renderer of :func:`gancompress.report.render.regenerate`. The table and the outcome text
are :mod:`gancompress.experiments.table1.outcome`.

Example:
    >>> md, page = write_table1_report(load_results("runs/table1-quick"), "runs/table1-quick")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import html
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gancompress.experiments.protocol import (
    SANITY_HEADERS,
    SANITY_TEXT,
    sanity_md,
    sanity_rows,
    split_note,
    thresholds_note,
)
from gancompress.experiments.table1.outcome import HEADERS, PAPER_DENSE_FID, outcome, row_label, seconds_text, table
from gancompress.experiments.table1.results import refresh
from gancompress.files import write_json
from gancompress.report.formatting import DASH, format_value
from gancompress.report.html import img_src
from gancompress.report.render import CSS, RENDERERS, dump_json, format_table, html_table
from gancompress.report.svgchart import render_curves_svg

log = logging.getLogger(__name__)


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "row"


def _charts(row: Mapping) -> dict[str, tuple[str, str]]:
    """``{relative svg path: (title, svg)}`` for a row's first-seed curves: G/D losses and D's entropy on fakes."""
    curves = row.get("curves") or {}
    out = {}
    for suffix, keys in (("losses", ("g/loss", "d/loss")), ("entropy", ("diag/d_entropy",))):
        sel = {k: curves[k] for k in keys if curves.get(k)}
        if sel:
            title = f"{row['name']} — {'G / D loss' if suffix == 'losses' else 'D entropy on fakes (bits)'}"
            out[f"curves/{_stem(row['name'])}_{suffix}.svg"] = (title, render_curves_svg(sel, title=title, width=520))
    return out


def _per_seed(row: Mapping) -> str:
    parts = []
    for seed, c in sorted((row.get("cells") or {}).items(), key=lambda kv: int(kv[0])):
        if "metrics" not in c:
            continue
        v = c.get("verdict") or {}
        why = "; ".join([*(v.get("reasons") or []), *(f"warning: {w}" for w in v.get("warnings") or [])])
        fp = " FALSE POSITIVE" if (c.get("false_positive") or {}).get("false_positive") else ""
        text = f"seed {seed}: FID {format_value(c['metrics'].get('fid'))}, {v.get('flag', DASH)}{fp}"
        text += f" ({why})" if why else ""
        cost = f"{seconds_text(c.get('seconds'))} wall / {seconds_text(c.get('cpu_seconds'))} CPU"
        parts.append(f"{text}, {c.get('steps')} steps, {cost}")
    return " · ".join(parts)


# --------------------------------------------------------------------------------------------- rendering
def _md(s: Any) -> str:
    return str(s).replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(results: Mapping) -> str:
    rows = table(results)
    out = [f"# {_md(results.get('title') or 'Table 1 reproduction')}", ""]
    out += [f"_Created: {_md(results['created'])}_", ""] if results.get("created") else []
    out += ["## Outcome", "", *(f"- {_md(s)}" for s in outcome(results)), ""]
    out += ["## Results", "", format_table([[_md(c) for c in r] for r in rows], HEADERS), ""]
    out += [_md(_legend(results)), ""]
    out += sanity_md(results)
    out += ["## Rows", ""]
    for r in results["models"]:
        out += [f"### {_md(row_label(r))}", "", _md(r.get("description") or ""), "", _md(_per_seed(r)), ""]
        if r.get("samples"):
            out += [f"![{_md(r['name'])} samples]({r['samples']})", ""]
        out += [f"![{_md(title)}]({path})" for path, (title, _) in _charts(r).items()] + [""]
    out += ["## Notes", "", *(f"- {_md(n)}" for n in _notes(results)), ""]
    return "\n".join(out)


def render_html(results: Mapping, base_dir: str | Path) -> str:
    e, base, rows_in = html.escape, Path(base_dir), results["models"]
    rows = table(results)
    title = e(str(results.get("title") or "Table 1 reproduction"))
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{title}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{title}</h1>"]  # fmt: skip
    if results.get("created"):
        out.append(f"<p><em>Created: {e(str(results['created']))}</em></p>")
    out.append("<h2>Outcome</h2><ul>" + "".join(f"<li>{e(s)}</li>" for s in outcome(results)) + "</ul>")
    ctl = ["ref" if r.get("control") or (r["method"] == "dense" and not r.get("variant")) else "" for r in rows_in]
    words = [HEADERS.index(h) for h in ("method", "flag", "false positive")]  # may wrap; numbers never do
    out += ["<h2>Results</h2>", html_table(HEADERS, rows, row_classes=ctl, text_cols=words)]
    out.append(f"<p>{e(_legend(results))}</p>")
    if sanity := sanity_rows(results):
        out.append(f"<h2>Sanity checks: known-bad generators</h2><p>{e(SANITY_TEXT)}</p>")
        out.append(html_table(SANITY_HEADERS, sanity, text_cols=[len(SANITY_HEADERS) - 1]))
    out.append("<h2>Rows</h2>")
    for r in results["models"]:
        out.append(f"<h3>{e(row_label(r))}</h3><p>{e(r.get('description') or '')}</p><p>{e(_per_seed(r))}</p>")
        figs = []
        if r.get("samples"):
            src, seed = img_src(str(r["samples"]), base), (r.get("seeds_done") or ["?"])[0]
            figs.append(f'<figure><img src="{e(src)}" alt="{e(r["name"])} samples" style="max-width:300px">'
                        f"<figcaption>samples (seed {e(str(seed))})</figcaption></figure>")  # fmt: skip
        figs += [f'<figure>{svg}<figcaption><a href="{e(p)}">{e(p)}</a></figcaption></figure>'
                 for p, (_, svg) in _charts(r).items()]  # fmt: skip
        out.append('<div class="figs">' + "".join(figs) + "</div>")
    out.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in _notes(results)) + "</ul>")
    for key in ("config", "profile", "plan", "evaluator", "env"):
        if results.get(key):
            out.append(
                f"<details><summary>{key}</summary><pre><code>{e(dump_json(results[key]))}</code></pre></details>"
            )
    return "\n".join([*out, "</body></html>", ""])


def _legend(results: Mapping) -> str:
    scored = (results.get("evaluator") or {}).get("real_set") or "the held-out split"
    return (
        "FID / G_O is against the teacher that was compressed (docs/method.md §7); FID / control against the dense "
        "teacher trained on for the same budget; paper FID / dense against the paper's row a "
        f"({PAPER_DENSE_FID}). The paper's numbers are StarGAN/CelebA Inception FID, ours a CPU-scale analogue on a "
        "domain extractor: compare ratios, not absolute FIDs. Flag: collapse / off_target / artifacts / ok from "
        "recall, coverage, the rarest class's share, diversity, target accuracy, D health and FID vs G_O "
        "(gancompress/experiments/verdict.py; thresholds under Notes); k/n = seeds with that flag. "
        f"Scored on {scored}. Rows marked * are variants, a+ the control; @N% is the compression budget."
    )


def _notes(results: Mapping) -> list[str]:
    timing, ev = results.get("timing") or {}, results.get("evaluator") or {}
    notes = [
        f"Wall time {seconds_text(timing.get('wall_seconds'))} in total (evaluator set-up "
        f"{seconds_text(timing.get('evaluator_seconds'))}, teacher {seconds_text(timing.get('teacher_seconds'))}); "
        f"CPU time of the process {seconds_text(timing.get('cpu_seconds'))} on {timing.get('threads', '?')} "
        f"thread(s), 1-min load average {format_value(timing.get('loadavg_1min'), 3)} at the last save (other jobs "
        "inflate wall time).",
    ]
    if ev:
        notes.append(
            f"Scores: {ev.get('extractor')} extractor (hash {ev.get('extractor_hash')}), {ev.get('num_samples')} "
            f"generated vs {ev.get('num_real')} held-out real images ({ev.get('real_set')}); one fixed sampling seed, "
            "so a row's spread is its training-seed spread."
        )
    prof, plan = results.get("profile") or {}, results.get("plan") or {}
    if prof:
        budgets = plan.get("budgets") or prof.get("budget_fractions") or [prof.get("budget_fraction")]
        text = " and ".join(f"{b:.0%}" for b in budgets if b is not None) or "?"
        notes.append(
            f"Profile {prof.get('name')}: teacher {prof.get('teacher_steps')} steps; rows from G_O train {text} of "
            "that (the paper's 10 % beside ours), rows from random init (a, c, c′, f, j) the full budget."
        )
    notes.append(split_note(ev))
    notes.append(thresholds_note())
    if results.get("selection"):
        notes.append(str(results["selection"]))
    return notes + list(results.get("notes") or [])


def write_table1_report(results: Mapping, out_dir: str | Path, save_json: bool = False) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html`` and the per-row SVG charts into ``out_dir``; returns both paths.

    Derived fields are recomputed from the stored per-seed data first
    (:func:`gancompress.experiments.table1.results.refresh`).
    """
    results, out = refresh(copy.deepcopy(dict(results))), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if save_json:
        write_json(out / "results.json", results)
    for r in results["models"]:
        for path, (_, svg) in _charts(r).items():
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_text(svg + "\n", encoding="utf-8")
    md, page = out / "report.md", out / "report.html"
    md.write_text(render_markdown(results), encoding="utf-8")
    page.write_text(render_html(results, out), encoding="utf-8")
    log.info("wrote %s and %s", md, page)
    return md, page


# `gancompress report` of a table1 run: derived fields refreshed, raw data kept
RENDERERS.add("table1", lambda results, run_dir: write_table1_report(results, run_dir, save_json=True))

__all__ = ["render_html", "render_markdown", "write_table1_report"]
