"""Reports of ``reproduce table2`` (the paper's Table 2 layout) and ``reproduce granularity`` from results.json.

Table 2: one row per task, FID at 0 / 25 / 50 / 75 / 90 % element sparsity with our ratio to the dense teacher and
the paper's ratio for the rows the task stands for (docs/method.md §5); PSNR / SSIM to the ground truth for paired
tasks.
Granularity: per task, FID ratio and measured CPU speed-up (vs the ideal MAC ratio) per granularity and sparsity.
Ratios, not absolute FIDs, are comparable with the paper: its FIDs are Inception features on 256 px photos, ours a
domain extractor on 32 px images.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gancompress.experiments.protocol import DRY_RUN_NOTE, is_dry_run, split_note, thresholds_note
from gancompress.experiments.sweeps.structured_report import quality_vs_speed_svg, structured_outcome, structured_rows
from gancompress.experiments.sweeps.sweep import CONTROL
from gancompress.experiments.tasks import TABLE2_SPARSITIES
from gancompress.experiments.verdict import quality_flag
from gancompress.metrics.summary import summarize
from gancompress.report.html import TABLE_CSS, img_src
from gancompress.report.render import RENDERERS, format_table, html_table

#: the Table 2 targets (docs/reproduce.md "Table 2"): FID(50 %) / FID(dense) ≤ 1.05 and FID(90 %) / FID(dense) ≤ 1.2
#: on every family.
TARGETS = {0.5: 1.05, 0.9: 1.2}
CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:1300px}.figs{display:flex;flex-wrap:wrap;gap:8px}"
    "figure{margin:0}figcaption{font-size:80%}\n" + TABLE_CSS  # the tables scroll like every report's
)


def cell_stats(task: Mapping, granularity: str, sparsity: float, key: str = "fid") -> dict[str, Any] | None:
    """Mean / CI over seeds of metric ``key`` for one (granularity, sparsity) of a task, or None if not run."""
    values = [
        c["metrics"][key]
        for c in task["cells"].values()
        if _same(c["granularity"], granularity) and abs(c["sparsity"] - sparsity) < 1e-9 and key in c["metrics"]
    ]
    return summarize(values) if values else None


def _row_name(granularity: str) -> str:
    """Report row of a granularity: every N:4 pattern (3:4, 2:4, 1:4 — one per sparsity) shares the row "N:4"."""
    return "N:4" if granularity.startswith("nm") else granularity


def _same(cell_granularity: str, row: str) -> bool:
    return cell_granularity == row or _row_name(cell_granularity) == row


def _teacher(task: Mapping, key: str = "fid") -> float | None:
    return (task.get("teacher") or {}).get("metrics", {}).get(key)


def _ratio(task: Mapping, granularity: str, sparsity: float) -> float | None:
    s, dense = cell_stats(task, granularity, sparsity), _teacher(task)
    return s["mean"] / dense if s and dense else None


def _fmt(s: Mapping | None, ratio: float | None = None, digits: int = 3) -> str:
    if s is None:
        return "–"
    text = f"{s['mean']:.{digits}f}" + (f" ± {s['ci95']:.{digits}f}" if s["n"] > 1 else "")
    return text + (f" ({ratio:.3f}×)" if ratio is not None else "")


def table2_rows(results: Mapping) -> tuple[list[str], list[list[str]]]:
    headers = ["task", "dense FID"] + [f"{s:.0%}: FID (×dense) [paper ×]" for s in TABLE2_SPARSITIES[1:]]
    with_control = any(g == CONTROL for g, _ in results["plan"]["points"])
    headers += ["dense control, same budget (×dense)"] if with_control else []
    rows = []
    for name, t in results["tasks"].items():
        row = [name, f"{_teacher(t):.3f}" if _teacher(t) is not None else "–"]
        for s in TABLE2_SPARSITIES[1:]:
            paper = t["paper_ratios"].get(str(s), [])
            ptxt = "–".join(f"{x:.3f}" for x in sorted({min(paper), max(paper)})) if paper else "–"
            row.append(f"{_fmt(cell_stats(t, 'element', s), _ratio(t, 'element', s))} [{ptxt}]")
        if with_control:
            row.append(_fmt(cell_stats(t, CONTROL, 0.0), _ratio(t, CONTROL, 0.0)))
        rows.append(row)
    return headers, rows


def paired_rows(results: Mapping) -> tuple[list[str], list[list[str]]]:
    headers = ["task", "metric", "dense"] + [f"{s:.0%}" for s in TABLE2_SPARSITIES[1:]]
    rows = []
    for name, t in results["tasks"].items():
        for key in ("target_psnr", "target_ssim", "target_accuracy"):
            if _teacher(t, key) is None:
                continue
            cells = [_fmt(cell_stats(t, "element", s, key), digits=3) for s in TABLE2_SPARSITIES[1:]]
            rows.append([name, key.removeprefix("target_"), f"{_teacher(t, key):.3f}", *cells])
    return headers, rows


def _granularities(results: Mapping) -> list[str]:
    return list(dict.fromkeys(_row_name(g) for g, _ in results["plan"]["points"]))


def _sparsities(results: Mapping) -> list[float]:
    return sorted({float(s) for _, s in results["plan"]["points"]})


def _speed(results: Mapping, task: str, key: str, batch: int = 1) -> tuple[float | None, float | None]:
    for r in (results.get("latency") or {}).get(task, {}).get("rows", []):
        if r["model"] == key and r["batch"] == batch:
            return r.get("speedup"), r.get("ideal_mac_ratio")
    return None, None


def granularity_rows(results: Mapping, task: str) -> tuple[list[str], list[list[str]]]:
    t, seed = results["tasks"][task], results["plan"]["seeds"][0]
    headers = ["granularity"] + [f"{s:.0%}: FID ×dense | speed-up b1 / b16 (ideal)" for s in _sparsities(results)]
    rows = []
    for g in _granularities(results):
        row = [g]
        for s in _sparsities(results):
            ratio = _ratio(t, g, s)
            key = next((k for k, c in t["cells"].items() if c["seed"] == seed and _same(c["granularity"], g)
                        and abs(c["sparsity"] - s) < 1e-9), "")  # fmt: skip
            (sp1, ideal), (sp16, _) = _speed(results, task, key, 1), _speed(results, task, key, 16)
            txt = "–" if ratio is None else f"{ratio:.3f}×"
            if sp1 is not None:
                txt += f" | {sp1:.2f}× / " + (f"{sp16:.2f}×" if sp16 is not None else "–")
                txt += f" ({ideal:.2f}×)" if ideal else ""
            row.append(txt)
        rows.append(row)
    return headers, rows


def outcome(results: Mapping) -> list[str]:
    """Plain statements computed from the numbers: targets met or missed, best / worst granularity (none for a
    dry run)."""
    dry = is_dry_run(results)
    lines = [DRY_RUN_NOTE] if dry else []
    for name, t in ({} if dry else results["tasks"]).items():
        if _teacher(t) is None:
            continue
        parts = []
        for s, limit in TARGETS.items():
            r = _ratio(t, "element", s)
            if r is not None:
                parts.append(f"{s:.0%}: {r:.3f}× dense ({'meets' if r <= limit else 'misses'} ≤ {limit})")
        control = cell_stats(t, CONTROL, 0.0)
        if parts and control:  # docs/method.md §7: a snapshot's own continuation is the honest reference
            ratios = [f"{s:.0%}: {r['mean'] / control['mean']:.3f}×" for s in TARGETS
                      if (r := cell_stats(t, "element", s)) is not None]  # fmt: skip
            parts.append(f"vs the same-budget dense control ({control['mean']:.3f}): " + ", ".join(ratios))
        if parts:
            lines.append(f"{name}: element " + "; ".join(parts))
        flagged = flagged_cells(t)
        if flagged:
            lines.append(f"{name}: flagged against its teacher (verdict.py) — " + "; ".join(flagged))
        if results["kind"] == "structured":
            continue
        if results["kind"] == "granularity":
            for s in _sparsities(results):
                ranked = sorted((r, g) for g in _granularities(results) if (r := _ratio(t, g, s)) is not None)
                if len(ranked) > 1:
                    lines.append(f"{name} at {s:.0%}: best {ranked[0][1]} ({ranked[0][0]:.3f}×), "
                                 f"worst {ranked[-1][1]} ({ranked[-1][0]:.3f}×)")  # fmt: skip
    if results["kind"] == "structured" and not dry:
        lines += structured_outcome(results)
    profile, overrides = results.get("profile", {}), results.get("plan", {}).get("overrides", [])
    if profile.get("budget_fraction") is not None:  # the settings the ratios depend on, stated with them
        lines.append(f"{profile.get('name', '')} profile: compression budget {profile['budget_fraction']:g} × the "
                     f"teacher's steps" + (f"; --set {', '.join(overrides)}" if overrides else ""))  # fmt: skip
    timing = results.get("timing", {})
    if timing.get("wall_seconds"):
        lines.append(f"wall time {timing['wall_seconds'] / 60:.1f} min, CPU {timing.get('cpu_seconds', 0) / 60:.1f} min"
                     f" ({timing.get('jobs', 1)} worker process(es))")  # fmt: skip
    return lines


def _scored(results: Mapping) -> Mapping:
    """The evaluator provenance recorded with the scores (``real_set`` names the split) of the first scored task."""
    for t in results["tasks"].values():
        metrics = (t.get("teacher") or {}).get("metrics")
        if metrics:
            return metrics
    return {}


def flagged_cells(task: Mapping) -> list[str]:
    """``"<granularity> <sparsity> seed N: flag (reasons)"`` for every cell whose verdict against the task's teacher
    (G_O, the same evaluator) is not ``ok`` — the verdicts of Table 1, applied to every sweep cell."""
    teacher = (task.get("teacher") or {}).get("metrics") or {}
    out = []
    for c in task["cells"].values():
        if "metrics" not in c or not teacher:
            continue
        v = quality_flag(c["metrics"], teacher, alarms=c.get("alarms", ()))
        if v["flag"] != "ok":
            where = "control" if c["granularity"] == CONTROL else f"{c['granularity']} {c['sparsity']:.0%}"
            out.append(f"{where} seed {c.get('seed', 0)}: {v['flag']} ({'; '.join(v['reasons'])})")
    return out


def tables(results: Mapping) -> list[tuple[str, list[str], list[list[str]]]]:
    if results["kind"] == "structured":
        return [(f"{name}: quality and measured speed at MAC targets", *structured_rows(results, name))
                for name in results["tasks"]]  # fmt: skip
    if results["kind"] == "table2":
        out = [("Table 2 (element sparsity)", *table2_rows(results))]
        headers, rows = paired_rows(results)
        if rows:
            out.append(
                ("Paired fidelity to the ground truth (PSNR dB / SSIM) and target-class accuracy", headers, rows)
            )
        return out
    return [(f"{name}: FID ratio and CPU speed-up", *granularity_rows(results, name)) for name in results["tasks"]]


NOTE = (
    "Ratios to the task's own dense teacher are what compare with the paper (docs/method.md §5): its FIDs are "
    "Inception features of 256 px photos, ours a domain extractor on small images. Speed-up: dense latency / "
    "this model's, eager PyTorch, 1 thread, median of interleaved rounds; filter-pruned generators physically "
    "shrunk, the other granularities run as masked dense modules (a CPU gains nothing from scattered zeros); "
    "ideal = dense MACs / non-zero MACs."
)


STRUCTURED_NOTE = (
    "Ratios are to G_O, the teacher compressed, scored by the same evaluator. MACs and parameters are those of the "
    "deployable generator: channel-pruned rows physically shrunk, row c built at those widths. Speed-up: G_O's "
    "latency / this model's, timed side by side in one process (medians of interleaved rounds); the best of eager "
    "PyTorch and ONNX Runtime at 2 threads and batch 16, and eager at 1 thread and batch 1. Speed-up / MAC ratio: "
    "how much of the MAC reduction the CPU turns into time."
)


def _note(results: Mapping) -> str:
    return STRUCTURED_NOTE if results["kind"] == "structured" else NOTE


def render_markdown(results: Mapping) -> str:
    e = _esc
    out = [f"# {e(results['title'])}", "", f"_Created: {e(results.get('created', ''))}_", "", "## Outcome", ""]
    out += [f"- {e(s)}" for s in outcome(results)] + [""]
    for title, headers, rows in tables(results):
        out += [f"## {e(title)}", "", format_table([[e(c) for c in r] for r in rows], headers), ""]
    out += [e(_note(results)), "", e(split_note(_scored(results))), "", e(thresholds_note()), ""]
    if results["kind"] == "structured":
        out += [f"![{n} quality vs speed](quality_vs_speed_{n}.svg)" for n in results["tasks"]] + [""]
    out += ["## Samples", ""]
    for name, t in results["tasks"].items():
        if t.get("teacher", {}).get("samples"):
            out.append(f"![{name} teacher]({t['teacher']['samples']})")
        out += [f"![{name} {k}]({c['samples']})" for k, c in t["cells"].items() if c.get("samples")]
    return "\n".join([*out, ""])


def _esc(s: Any) -> str:
    return str(s).replace("<", "&lt;").replace(">", "&gt;")


def render_html(results: Mapping, base_dir: str | Path) -> str:
    e, base = html.escape, Path(base_dir)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(results['title'])}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{e(results['title'])}</h1>",
           f"<p><em>Created: {e(str(results.get('created', '')))}</em></p>", "<h2>Outcome</h2><ul>"]  # fmt: skip
    out += [f"<li>{e(s)}</li>" for s in outcome(results)] + ["</ul>"]
    for title, headers, rows in tables(results):
        out += [f"<h2>{e(title)}</h2>", html_table(headers, rows)]
    out += [f"<p>{e(_note(results))}</p>", f"<p>{e(split_note(_scored(results)))}</p>"]
    out += [f"<p>{e(thresholds_note())}</p>"]
    if results["kind"] == "structured":
        out += [svg for n in results["tasks"] if (svg := quality_vs_speed_svg(results, n))]
    out += ["<h2>Samples</h2>"]
    for name, t in results["tasks"].items():
        figs = [("teacher", t.get("teacher", {}).get("samples"))] + [
            (k, c.get("samples")) for k, c in t["cells"].items()
        ]
        out.append(f"<h3>{e(name)}: {e(t['title'])}</h3><div class='figs'>" + "".join(
            f'<figure><img src="{e(img_src(p, base))}" alt="{e(k)}" style="width:200px"><figcaption>{e(k)}'
            "</figcaption></figure>" for k, p in figs if p) + "</div>")  # fmt: skip
    for key in ("profile", "plan", "timing", "env"):
        if results.get(key):
            import json

            out.append(f"<details><summary>{key}</summary><pre>{e(json.dumps(results[key], indent=1))}</pre></details>")
    return "\n".join([*out, "</body></html>", ""])


def write_sweep_report(results: Mapping, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``."""
    out = Path(out_dir)
    md, page = out / "report.md", out / "report.html"
    if results["kind"] == "structured":  # the quality-vs-speed plot per task, linked from both reports
        for name in results["tasks"]:
            svg = quality_vs_speed_svg(results, name)
            if svg:
                (out / f"quality_vs_speed_{name}.svg").write_text(svg)
    md.write_text(render_markdown(results))
    page.write_text(render_html(results, out))
    return md, page


__all__ = ["TARGETS", "cell_stats", "outcome", "render_html", "render_markdown", "table2_rows", "write_sweep_report"]


RENDERERS.add("table2", write_sweep_report)
RENDERERS.add("granularity", write_sweep_report)
RENDERERS.add("structured", write_sweep_report)
