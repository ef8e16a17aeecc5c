"""Results JSON → ``report.md`` + ``report.html`` (+ ``curves/<model>.svg``).

The results JSON is the source of truth; the report is always regenerated from it (:func:`regenerate`), so editing
or re-rendering never needs the models. Schema (only ``models[].name`` is required)::

    {"title": str, "created": ISO-8601 str,
     "summary": [str, ...],                # bullet lines shown at the top
     "reference": "teacher",               # model that "FID / ref" ratios use (default: "teacher" if present)
     "columns": ["fid", "kid", ...],       # metric keys to show, in order (default: union of metric keys)
     "higher_is_better": {"fid": false},   # ↑/↓ in headers, best non-reference value bolded (defaults for known keys)
     "models": [{"name": str, "method": str, "description": str, "sparsity": float in [0, 1],
                 "metrics": {key: float | null, "<key>_ci95" | "<key>_std": float},  # shown as "x ± ci"
                 "samples": "samples/teacher.png",          # relative to the report dir
                 "curves": {"g/loss": [[step, value], ...]},  # one line chart per model; null/NaN points skipped
                 "flags": ["collapse", ...], "paper_fid": float | null,
                "control": bool}],                 # a control row (e.g. the dense teacher trained on): never "best"
     "config": {...}, "env": {...}, "notes": [str, ...]}

A results file with a ``"kind"`` (``"table1"``, ``"table2"``, ``"granularity"``: written by ``gancompress reproduce``)
has its own layout, rendered by the renderer the experiment registered in :data:`RENDERERS` under that kind;
:func:`regenerate` looks it up (importing :mod:`gancompress.experiments` registers them all).

Example:
    >>> md_path, html_path = write_report({"title": "t", "models": [{"name": "teacher", "metrics": {"fid": 10.0}}]},
    ...                                   "/tmp/run")  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gancompress.errors import UserError
from gancompress.registry import Registry
from gancompress.report.formatting import DASH, format_value
from gancompress.report.formatting import to_number as _num
from gancompress.report.html import CSS, html_table, metric_label
from gancompress.report.html import img_src as _img_src
from gancompress.report.svgchart import render_curves_svg, render_panels_svg

log = logging.getLogger(__name__)

__all__ = [
    "RENDERERS",
    "dump_json",
    "format_table",
    "format_value",
    "html_table",
    "load_results",
    "metric_label",
    "regenerate",
    "render_curves_svg",
    "render_html",
    "render_markdown",
    "write_report",
]

_LOWER = ("fid", "kid", "lpips")
_HIGHER = ("fidelity_psnr", "psnr", "ssim", "precision", "recall", "density", "coverage")
DEFAULT_HIGHER_IS_BETTER = {**dict.fromkeys(_LOWER, False), **dict.fromkeys(_HIGHER, True)}


# --------------------------------------------------------------------------------------------- loading / saving
def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):  # numpy arrays/scalars, torch tensors
        return o.tolist()
    return str(o)  # Path, datetime, ...


# `gancompress reproduce` studies whose results hold "tasks" and "plan" instead of a "models" list
SWEEP_KINDS = ("table2", "granularity", "structured")


def _check(results: Any) -> dict:
    if isinstance(results, Mapping) and results.get("kind") in SWEEP_KINDS:
        if not isinstance(results.get("tasks"), Mapping) or not isinstance(results.get("plan"), Mapping):
            raise UserError(
                f'{results["kind"]} results must hold "tasks" and "plan" objects (gancompress.experiments.sweeps.run)'
            )
        return dict(results)
    if not isinstance(results, Mapping) or not isinstance(results.get("models"), list):
        raise UserError('results must be a JSON object with a "models" list (see gancompress.report.render docstring)')
    for i, m in enumerate(results["models"]):
        if not isinstance(m, Mapping) or not isinstance(m.get("name"), str):
            raise UserError(f'results "models"[{i}] must be an object with a string "name"')
    return dict(results)


def load_results(path: str | Path) -> dict:
    """Read and validate a results JSON file (a file path, or a run directory holding ``results.json``).

    Raises:
        UserError: If the file is missing, not JSON, or does not follow the schema.
    """
    path = Path(path)
    path = path / "results.json" if path.is_dir() else path
    try:
        return _check(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise UserError(
            f"no results file at {path}: `gancompress report` renders a demo / reproduce results.json or a run "
            "written by train / prune / compress"
        ) from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON: {e}") from None


def save_results(results: Mapping, path: str | Path) -> Path:
    """Write ``results`` as indented JSON (numpy/torch values converted) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_check(results), indent=2, default=_json_default) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------- formatting
def _percent(v: Any) -> str:
    x = _num(v)
    return DASH if x is None else f"{100 * x:.1f}%"


def _metric_cell(metrics: Mapping, key: str) -> str:
    fmt = _percent if key.endswith("sparsity") else format_value
    text = fmt(metrics.get(key))
    errs = [_num(metrics.get(f"{key}_{suffix}")) for suffix in ("ci95", "std")]  # prefer the CI over the std
    err = next((x for x in errs if x is not None), None)
    return text if err is None or text == DASH else f"{text} ± {fmt(err) if fmt is _percent else format_value(err, 2)}"


def format_table(rows: Sequence[Sequence[Any] | Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Render a GitHub-flavoured markdown table (``|`` in cells escaped, numbers via :func:`format_value`).

    Args:
        rows: Sequences (in column order) or mappings keyed by column name (missing keys → "–").
        columns: Header labels.

    Example:
        >>> print(format_table([["a", 1.5]], ["name", "x"]))
        | name | x |
        |---|---|
        | a | 1.500 |
    """

    def cell(v: Any) -> str:
        return format_value(v).replace("|", r"\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        vals = [r.get(c) for c in columns] if isinstance(r, Mapping) else list(r)
        lines.append("| " + " | ".join(cell(v) for v in vals) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- the results table
def _columns(results: Mapping) -> list[str]:
    if results.get("columns"):
        return list(results["columns"])
    keys: dict[str, None] = {}
    for m in results["models"]:
        keys.update({k: None for k in (m.get("metrics") or {}) if not k.endswith(("_std", "_ci95"))})
    return list(keys)


def _reference(results: Mapping) -> Mapping | None:
    name = results.get("reference", "teacher")
    ref = next((m for m in results["models"] if m["name"] == name), None)
    if ref is None and "reference" in results:
        log.warning("reference model %r not found among models; no ratio column", name)
    return ref


def _table(results: Mapping) -> tuple[list[str], list[list[str]], list[list[bool]], int | None]:
    """Return (headers, formatted rows, best-cell mask, reference row index) shared by markdown and HTML."""
    models, cols, ref = results["models"], _columns(results), _reference(results)
    hib = {**DEFAULT_HIGHER_IS_BETTER, **(results.get("higher_is_better") or {})}
    ref_fid = _num((ref.get("metrics") or {}).get("fid")) if ref else None
    ratio = ref is not None and "fid" in cols
    paper = any(_num(m.get("paper_fid")) is not None for m in models)
    flags = any(m.get("flags") for m in models)

    def arrow(k: str) -> str:
        return "" if k not in hib else " ↑" if hib[k] else " ↓"

    headers = ["model", "method", "sparsity"] + [metric_label(k) + arrow(k) for k in cols]
    raw: list[list[float | None]] = []  # numeric values of the metric (+ ratio) columns, for "best"
    shown: list[list[str]] = []  # the same values as printed: a tie is what the reader sees as one
    rows: list[list[str]] = []
    for m in models:
        met = m.get("metrics") or {}
        vals = [_num(met.get(k)) for k in cols]
        texts = [(_percent if k.endswith("sparsity") else format_value)(met.get(k)) for k in cols]
        row = [m["name"], m.get("method") or DASH, _percent(m.get("sparsity"))] + [_metric_cell(met, k) for k in cols]
        if ratio:
            fid = _num(met.get("fid"))
            r = fid / ref_fid if fid is not None and ref_fid else None
            vals.append(r)
            texts.append(DASH if r is None else f"{r:.2f}")
            row.append(texts[-1])
        if paper:
            row.append(format_value(m.get("paper_fid")))
        if flags:
            row.append(", ".join(map(str, m.get("flags") or [])) or DASH)
        raw.append(vals)
        shown.append(texts)
        rows.append(row)
    headers += (["FID / ref" + arrow("fid")] if ratio else []) + (["paper FID"] if paper else [])
    headers += ["flags"] if flags else []
    ref_i = models.index(ref) if ref is not None else None
    best = [[False] * len(headers) for _ in rows]
    for j, k in enumerate([*cols, "fid"] if ratio else cols):
        if k not in hib:
            continue
        cand = [
            (raw[i][j], i)
            for i in range(len(rows))
            if i != ref_i and not models[i].get("control") and raw[i][j] is not None
        ]
        if len(cand) >= 2:  # "best" of a single compressed model says nothing
            top = max(cand) if hib[k] else min(cand)
            winners = [i for _, i in cand if shown[i][j] == shown[top[1]][j]]
            if len(winners) == 1:  # a tie (as printed) has no best: highlighting all of them would single none out
                best[winners[0]][3 + j] = True
    return headers, rows, best, ref_i


def _curve_files(results: Mapping) -> dict[int, str]:
    """Model index → ``curves/<safe name>.svg`` for models with curves (names sanitised and de-duplicated)."""
    files: dict[int, str] = {}
    for i, m in enumerate(results["models"]):
        if m.get("curves"):
            stem = re.sub(r"[^A-Za-z0-9._-]+", "_", m["name"]).strip("._") or "model"
            while f"curves/{stem}.svg" in files.values():
                stem += f"_{i}"
            files[i] = f"curves/{stem}.svg"
    return files


# --------------------------------------------------------------------------------------------- markdown
def _md(s: Any) -> str:
    return str(s).replace("<", "&lt;").replace(">", "&gt;")


def _caption(m: Mapping) -> str:
    parts = [str(m.get("method") or "")]
    parts += [f"sparsity {_percent(m['sparsity'])}"] if _num(m.get("sparsity")) is not None else []
    return m["name"] + (f" — {', '.join(p for p in parts if p)}" if any(parts) else "")


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default)


def render_markdown(results: Mapping) -> str:
    """Render the whole report as markdown (pure; see :func:`write_report` for the SVG files it links)."""
    results = _check(results)
    models = results["models"]
    headers, rows, best, ref_i = _table(results)
    cells = [
        [f"**{_md(c)}**" if b else _md(c) for c, b in zip(r, bs, strict=True)] for r, bs in zip(rows, best, strict=True)
    ]
    out = [f"# {_md(results.get('title') or 'gancompress report')}", ""]
    out += [f"_Created: {_md(results['created'])}_", ""] if results.get("created") else []
    out += [f"- {_md(s)}" for s in results.get("summary") or []] + ([""] if results.get("summary") else [])
    out += ["## Results", "", format_table(cells, headers), ""]
    legend = "↓ lower is better, ↑ higher is better; **bold** = best among compressed models."
    ref = f"Ratios are against `{_md(models[ref_i]['name'])}`. " if ref_i is not None else ""
    out += [ref + legend, ""]
    if described := [m for m in models if m.get("description")]:
        out += ["## Models", "", *(f"- **{_md(m['name'])}**: {_md(m['description'])}" for m in described), ""]
    if any(m.get("samples") for m in models):
        out += ["## Samples", ""]
        for m in (m for m in models if m.get("samples")):
            src = f"<{m['samples']}>" if " " in str(m["samples"]) else m["samples"]
            out += [f"![{_md(m['name'])} samples]({src})", "", f"*{_md(_caption(m))}*", ""]
    curve_files = _curve_files(results)
    if curve_files:
        out += ["## Training curves", ""]
        for i, f in curve_files.items():
            out += [f"[![{_md(models[i]['name'])} training curves]({f})]({f})", ""]
    if results.get("notes"):
        out += ["## Notes", ""] + [f"- {_md(n)}" for n in results["notes"]] + [""]
    for key in ("config", "env"):
        if results.get(key):
            out += [f"<details><summary>{key}</summary>", "", "```json", dump_json(results[key]), "```", ""]
            out += ["</details>", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------- HTML
def render_html(results: Mapping, base_dir: str | Path) -> str:
    """Render a self-contained HTML report (inline CSS and SVG; sample images embedded as data URIs).

    Args:
        results: The results dict (schema in the module docstring).
        base_dir: Directory the sample paths are relative to (the report directory).
    """
    results, e, base = _check(results), html.escape, Path(base_dir)
    models = results["models"]
    headers, rows, best, ref_i = _table(results)
    title = e(str(results.get("title") or "gancompress report"))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    if results.get("created"):
        out.append(f"<p><em>Created: {e(str(results['created']))}</em></p>")
    if results.get("summary"):
        out.append("<ul>" + "".join(f"<li>{e(str(s))}</li>" for s in results["summary"]) + "</ul>")
    text_cols = [1, len(headers) - 1] if headers[-1] == "flags" else [1]  # method and flags: words, not numbers
    row_classes = ["ref" if i == ref_i else "" for i in range(len(rows))]
    out += ["<h2>Results</h2>", html_table(headers, rows, best, row_classes, text_cols)]
    ref = f"Ratios are against <code>{e(models[ref_i]['name'])}</code>. " if ref_i is not None else ""
    out.append(
        f"<p>{ref}↓ lower is better, ↑ higher is better; highlighted = the one best value among compressed models "
        "(a tie highlights none).</p>"
    )
    if described := [m for m in models if m.get("description")]:
        items = "".join(f"<li><b>{e(m['name'])}</b>: {e(str(m['description']))}</li>" for m in described)
        out.append(f"<h2>Models</h2><ul>{items}</ul>")
    if any(m.get("samples") for m in models):
        out.append('<h2>Samples</h2><div class="figs">')
        for m in (m for m in models if m.get("samples")):
            rel = str(m["samples"])
            out.append(
                f'<figure><a href="{e(rel)}"><img src="{e(_img_src(rel, base))}" alt="{e(m["name"])} samples">'
                f"</a><figcaption>{e(_caption(m))}</figcaption></figure>"
            )
        out.append("</div>")
    curve_files = _curve_files(results)
    if curve_files:
        out.append("<h2>Training curves</h2>")
        for i, f in curve_files.items():
            svg = render_panels_svg(models[i]["curves"], title=models[i]["name"])
            out.append(f'<figure>{svg}<figcaption><a href="{e(f)}">{e(f)}</a></figcaption></figure>')
    if results.get("notes"):
        out.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(str(n))}</li>" for n in results["notes"]) + "</ul>")
    for key in ("config", "env"):
        if results.get(key):
            out.append(
                f"<details><summary>{key}</summary><pre><code>{e(dump_json(results[key]))}</code></pre></details>"
            )
    return "\n".join([*out, "</body></html>", ""])


# --------------------------------------------------------------------------------------------- writing
def write_report(results: Mapping, out_dir: str | Path, save_json: bool = True) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html`` and ``curves/<model>.svg`` into ``out_dir``.

    Args:
        results: The results dict (schema in the module docstring).
        out_dir: Report / run directory; sample paths in ``results`` are relative to it.
        save_json: Also write ``out_dir/results.json`` so :func:`regenerate` can rebuild the report later.

    Returns:
        ``(markdown_path, html_path)``.
    """
    results, out = _check(results), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if save_json:
        save_results(results, out / "results.json")
    for i, f in _curve_files(results).items():
        m = results["models"][i]
        (out / f).parent.mkdir(parents=True, exist_ok=True)
        (out / f).write_text(render_panels_svg(m["curves"], title=m["name"]) + "\n", encoding="utf-8")
    md, page = out / "report.md", out / "report.html"
    md.write_text(render_markdown(results), encoding="utf-8")
    page.write_text(render_html(results, out), encoding="utf-8")
    log.info("wrote %s and %s", md, page)
    return md, page


#: results ``"kind"`` → ``render(results, run_dir) -> (report.md, report.html)``, registered by the experiments that
#: write that kind (:mod:`gancompress.experiments`); ``"run"``: a single train / prune / compress / evaluate run
#: without results.json (``results`` is then ``None``). Kinds not registered get the generic :func:`write_report`.
RENDERERS: Registry[Callable[[Any, Path], tuple[Path, Path]]] = Registry("report kind")


def regenerate(run_dir: str | Path) -> tuple[Path, Path]:
    """Rebuild the report of ``run_dir`` from its ``results.json`` (the source of truth), or for a single run
    without one, from what the run holds (the ``"run"`` renderer).

    Example:
        >>> md, page = regenerate("runs/comp")  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} does not exist; give a run directory written by gancompress")
    if not (run_dir / "results.json").is_file() and (run_dir / "generator.json").is_file():
        return RENDERERS.get("run")(None, run_dir)  # one train / prune / compress / evaluate run
    results = load_results(run_dir / "results.json")
    kind = results.get("kind")
    if isinstance(kind, str) and kind in RENDERERS:  # `gancompress reproduce …` results have their own layout
        return RENDERERS.get(kind)(results, run_dir)
    return write_report(results, run_dir, save_json=False)
