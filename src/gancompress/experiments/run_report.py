"""``gancompress report RUN`` for a single train / prune / compress / evaluate run: "is it the same quality?"

A run written by one command has no ``results.json``; this builds one in the generic report schema (report/render.py)
from what the run holds — ``eval.json`` (the student's scores and, when a teacher was known, the teacher's from the same
evaluator and sampling seed), ``metrics.jsonl`` (curves), ``samples/`` (the latest grid), the saved files' sizes and the
generators' MACs — and renders ``report.md`` / ``report.html`` beside them. Nothing is trained or scored here: a run
without ``eval.json`` gets a report that says how to score it.

Example:
    >>> results = run_results("runs/comp")  # doctest: +SKIP
    >>> [m["name"] for m in results["models"]]  # doctest: +SKIP
    ['teacher', 'comp']
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from gancompress.api import load_gan
from gancompress.errors import UserError
from gancompress.export.stats import model_stats
from gancompress.families import get_family
from gancompress.files import read_json
from gancompress.report.render import RENDERERS, write_report
from gancompress.rundir import run_config

log = logging.getLogger(__name__)

#: the curves a run's report draws (metrics.jsonl keys)
CURVE_KEYS = (
    "g/loss", "d/loss", "g/gen", "g/gc", "g/dc", "d/real", "d/fake", "diag/d_real", "diag/d_fake", "diag/d_acc",
    "diag/d_entropy", "sparsity",
)  # fmt: skip
#: metric columns of a run report (the size columns come from the files)
COLUMNS = (
    "fid", "kid", "precision", "recall", "coverage", "target_accuracy", "class_coverage", "fidelity_psnr",
    "target_psnr", "sparsity", "nonzero", "params", "file_bytes", "macs", "effective_macs",
)  # fmt: skip


def _curves(run: Path) -> dict[str, list[list[float]]]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if not any(k.startswith("eval/") for k in r)]
    return {k: [[r["step"], r[k]] for r in rows if k in r] for k in CURVE_KEYS if any(k in r for r in rows)}


def _latest_grid(run: Path) -> str | None:
    grids = sorted((run / "samples").glob("*.png")) if (run / "samples").is_dir() else []
    return str(grids[-1].relative_to(run)) if grids else None


def _size(run: Path) -> dict[str, Any]:
    """File size of the saved generator and, when its architecture loads here, MACs (export.stats.model_stats)."""
    out: dict[str, Any] = {}
    weights = run / "generator.safetensors"
    if weights.is_file():
        out["file_bytes"] = weights.stat().st_size
    try:  # a --model run needs the user's factory: sizes only
        g, _ = load_gan(run)
        cfg = run_config(run) if (run / "config.json").is_file() else None
        family = get_family(cfg.model.family if cfg else "dcgan")
        g, _, loss = family.select(g, None, cfg) if cfg else (g, None, family.make_loss(g, None))
        stats = model_stats(g, loss.sample_input(1, torch.Generator().manual_seed(0), "cpu"))
        out.update({k: stats[k] for k in ("macs", "effective_macs")})
    except (UserError, OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        log.info("%s: no MACs in the report (%s)", run, exc)
    return out


def run_results(run_dir: str | Path) -> dict[str, Any]:
    """The report schema for one run directory (see the module docstring)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"{run} does not exist; give a run directory written by gancompress")
    if not (run / "generator.json").is_file():
        raise UserError(f"{run} is not a gancompress run (no generator.json, no results.json)")
    scores = read_json(run / "eval.json") if (run / "eval.json").is_file() else None
    summary: dict[str, Any] = read_json(run / "compress.json") if (run / "compress.json").is_file() else {}
    student = {"name": run.name or str(run), "method": summary.get("method") or "—", "curves": _curves(run)}
    student["sparsity"] = summary.get("sparsity")
    student["samples"] = _latest_grid(run)
    metrics = {k: v for k, v in (scores or {}).items() if k not in ("teacher", "ratios")}
    student["metrics"] = {**metrics, **_size(run)}
    models = [student]
    notes = []
    teacher_dir = summary.get("teacher")
    if scores and scores.get("teacher"):
        teacher = {"name": "teacher", "method": "dense", "metrics": dict(scores["teacher"]), "sparsity": 0.0}
        if teacher_dir and Path(teacher_dir).is_dir():
            teacher["metrics"].update(_size(Path(teacher_dir)))
        models.insert(0, teacher)
    elif scores:
        notes.append("No teacher scores in eval.json: `gancompress evaluate RUN --teacher TEACHER` scores it beside.")
    else:
        notes.append(f"No scores yet: `gancompress evaluate {run}` (with --teacher when the run records none).")
    if scores:
        notes.append(
            f"Scores: {scores.get('extractor')} features, {scores.get('num_samples')} samples vs "
            f"{scores.get('num_reference', scores.get('num_real'))} held-out images ({scores.get('real_set')}), "
            f"sampling seed {scores.get('seed')}; teacher and student from the same inputs."
        )
    return {
        "title": f"gancompress run {run.name}",
        **({"reference": "teacher"} if len(models) > 1 else {}),
        "columns": [c for c in COLUMNS if any(c in (m.get("metrics") or {}) for m in models)],
        "models": models,
        "config": read_json(run / "config.json") if (run / "config.json").is_file() else {},
        "notes": notes,
    }


# `gancompress report RUN` of a single run (no results.json): its report from what the run holds
RENDERERS.add("run", lambda _results, run_dir: write_report(run_results(run_dir), run_dir, save_json=False))

__all__ = ["COLUMNS", "CURVE_KEYS", "run_results"]
