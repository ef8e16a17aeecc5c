"""The ``results.json`` of ``gancompress reproduce table1``: one row per Table 1 method / variant, one cell per seed.

The file is the source of truth: it is rewritten (atomically) after every finished (row, seed) cell, and every
derived field — per-cell verdicts, per-row means and 95 % intervals, flag counts — is recomputed from the stored
per-seed scores and curves by :func:`refresh`, so a resumed or hand-edited file always renders consistently.

Schema (``kind: "table1"``; ``models`` is the rows list, so the generic report loader accepts it)::

    {"kind": "table1", "title", "created", "config", "profile", "plan": {"methods", "variants", "seeds", "control"},
     "teacher": {"run", "source", "steps", "seed", "seconds", "metrics", "curves", "alarms"},
     "timing": {"evaluator_seconds", "teacher_seconds", "wall_seconds", "cpu_seconds", "threads", "loadavg_1min"},
     "models": [{"name", "method", "row", "variant", "paper_fid", "description", "budget", "control",
                 "cells": {"<seed>": {"seed", "metrics", "steps", "train_seconds", "seconds", "cpu_seconds", "curves",
                                      "alarms", "samples", "run", "verdict", "false_positive"}},
                 # derived by refresh():
                 "metrics": {key: mean, key_std, key_ci95, key_values}, "seeds_done", "flag", "flag_counts",
                 "false_positive_count", "seconds", "cpu_seconds", "samples", "curves", "sparsity"}],
     "env", "notes"}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gancompress.experiments.table1.rows import TABLE1, TABLE1_BY_METHOD
from gancompress.experiments.variants import VARIANTS
from gancompress.experiments.verdict import false_positive, quality_flag, worst_flag
from gancompress.metrics.summary import summarize
from gancompress.report.formatting import to_number

#: Scores averaged over seeds (with std and 95 % interval) for each row.
SUMMARY_KEYS = (
    "fid",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
    "target_accuracy",
    "min_class_share",
    "class_coverage",
    "class_kl",
    "diversity_ratio",
    "fidelity_psnr",
    "sparsity",
    "nonzero",
    "params",
)
#: Name of the same-budget dense control row (docs/method.md §7) and the variant that produces it.
CONTROL_NAME = "dense_continued"
CONTROL_VARIANT = "continued"


def row_name(method: str, variant: str | None, fraction: float | None = None) -> str:
    """``self_supervised`` for a paper row, ``self_supervised[sample]`` for a variant, the control's own name; with
    ``fraction`` (a run with several compression budgets) ``@10%`` is appended."""
    name = method if variant is None else CONTROL_NAME if variant == CONTROL_VARIANT else f"{method}[{variant}]"
    return name if fraction is None else f"{name}@{fraction:.0%}"


def new_row(
    method: str,
    variant: str | None,
    *,
    budget: str,
    description: str,
    fraction: float | None = None,
    suffix: bool = False,
) -> dict[str, Any]:
    """An empty row: a Table 1 method (``variant`` None) or a variant / the control (no row letter of its own).

    ``fraction``: the compression budget of a ``budget == "compress"`` row (a fraction of the teacher's steps);
    ``suffix``: name it ``<name>@<fraction>`` (runs with several budgets).
    """
    paper = TABLE1_BY_METHOD.get(method) if variant is None else None
    letter = paper.row if paper else ("a+" if variant == CONTROL_VARIANT else f"{TABLE1_BY_METHOD[method].row}*")
    return {
        "name": row_name(method, variant, fraction if suffix else None),
        "method": method,
        "row": letter,
        "variant": variant,
        "paper_fid": paper.paper_fid if paper else None,
        "description": description,
        "budget": budget,
        "budget_fraction": fraction,
        "control": variant == CONTROL_VARIANT,
        "cells": {},
    }  # fmt: skip


def find_row(results: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    return next((r for r in results["models"] if r["name"] == name), None)


def cell_done(results: Mapping[str, Any], name: str, seed: int) -> bool:
    """Whether the (row, seed) cell has finished (scores written) — ``--resume`` skips it."""
    row = find_row(results, name)
    return bool(row and "metrics" in row["cells"].get(str(seed), {}))


def _summary(values: Sequence[float]) -> dict[str, Any]:
    st = summarize(values)
    return {"mean": st["mean"], "std": st["std"], "ci95": st["ci95"] if math.isfinite(st["ci95"]) else None}


def _order(row: Mapping[str, Any]) -> tuple[int, int, float]:
    """Paper rows in Table 1's order, then variants (in ``VARIANTS`` order), then the control; each by budget."""
    fraction = float(row.get("budget_fraction") or 0.0)
    if row.get("control"):
        return (2, 0, fraction)
    if row.get("variant"):
        names = list(VARIANTS)
        return (1, names.index(row["variant"]) if row["variant"] in names else len(names), fraction)
    methods = [r.method for r in TABLE1]
    return (0, methods.index(row["method"]) if row["method"] in methods else len(methods), fraction)


def refresh(results: dict[str, Any]) -> dict[str, Any]:
    """Recompute every derived field (verdicts per cell, means / intervals / flags per row) in place; returns it."""
    results["models"].sort(key=_order)  # stable; rows added by a resumed run with more --methods land in place
    teacher = results.get("teacher") or {}
    t_metrics, t_curves = teacher.get("metrics") or {}, teacher.get("curves") or {}
    for entry in (results.get("sanity") or {}).values():  # known-bad generators: scores only, no curves
        entry["verdict"] = quality_flag(entry.get("metrics") or {}, t_metrics)
    for row in results["models"]:
        cells = [c for _, c in sorted(row["cells"].items(), key=lambda kv: int(kv[0])) if "metrics" in c]
        for c in cells:
            c["verdict"] = quality_flag(
                c["metrics"], t_metrics, curves=c.get("curves"), teacher_curves=t_curves, alarms=c.get("alarms", ())
            )
            c["false_positive"] = false_positive(c["metrics"], t_metrics, c.get("curves") or {})
        metrics: dict[str, Any] = {}
        for key in SUMMARY_KEYS:
            values = [v for v in (to_number(c["metrics"].get(key)) for c in cells) if v is not None]
            if not values:
                continue
            st = _summary(values)
            metrics[key] = st["mean"]
            if len(values) > 1:
                metrics[f"{key}_std"], metrics[f"{key}_ci95"] = st["std"], st["ci95"]
            metrics[f"{key}_values"] = values
        flags = [c["verdict"]["flag"] for c in cells]
        row.update(
            metrics=metrics,
            seeds_done=[int(c["seed"]) for c in cells],
            flag=worst_flag(flags) if flags else None,
            flag_counts={f: flags.count(f) for f in dict.fromkeys(flags)},
            false_positive_count=sum(bool(c["false_positive"]["false_positive"]) for c in cells),
            seconds=round(sum(to_number(c.get("seconds")) or 0.0 for c in cells), 1),
            cpu_seconds=round(sum(to_number(c.get("cpu_seconds")) or 0.0 for c in cells), 1),
            samples=cells[0].get("samples") if cells else None,
            curves=cells[0].get("curves") if cells else {},
            sparsity=metrics.get("sparsity"),
        )
    return results


__all__ = ["CONTROL_NAME", "CONTROL_VARIANT", "SUMMARY_KEYS", "cell_done", "find_row", "new_row", "refresh", "row_name"]
