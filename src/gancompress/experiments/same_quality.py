"""The teacher beside the student: "is it the same quality?" as one table (``evaluate``, ``compress --evaluate``).

Every run is scored with the same evaluator and sampling seeds as its teacher, so the ratios compare like with like.

Example:
    >>> ratios_to_teacher({"fid": 2.2, "kid": 0.01}, {"fid": 2.0, "kid": 0.0})
    {'fid': 1.1}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from gancompress.config import RunCfg
from gancompress.report.render import format_table


def score_generator(
    evaluator: Any, g: nn.Module, loss: Any, cfg: RunCfg, seeds: Sequence[int], teacher: nn.Module | None
) -> dict[str, Any]:
    """``g``'s scores (fidelity to ``teacher`` when given); several ``seeds`` give mean ± 95 % intervals."""
    if len(seeds) > 1:
        return evaluator.evaluate_seeds(g, loss, seeds=list(seeds), teacher=teacher, metrics=cfg.eval.metrics)
    return evaluator.evaluate(g, loss, teacher=teacher, seed=seeds[0], metrics=cfg.eval.metrics)


#: the scores a "same quality?" table shows, and which of them get a ratio to the teacher
SCORE_COLUMNS = ("fid", "kid", "recall", "coverage", "target_accuracy", "class_coverage", "fidelity_psnr")
RATIO_KEYS = ("fid", "kid", "recall", "coverage", "target_accuracy")


def ratios_to_teacher(scores: dict[str, Any], teacher: dict[str, Any]) -> dict[str, float]:
    """``{metric: student ÷ teacher}`` for the scores both have (FID ratio < 1: better than the teacher)."""
    return {
        k: scores[k] / teacher[k]
        for k in RATIO_KEYS
        if isinstance(scores.get(k), (int, float)) and isinstance(teacher.get(k), (int, float)) and teacher[k]
    }


def scores_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per run, preceded by its teacher's row (once per teacher), with the FID ratio to the teacher."""
    rows, seen = [], set()
    for name, s in results.items():
        t = s.get("teacher")
        if t is not None and id(t) not in seen:
            seen.add(id(t))
            rows.append({"run": "teacher", **{k: _pm(t, k) for k in t if k in SCORE_COLUMNS}})
        ratio = (s.get("ratios") or {}).get("fid")
        rows.append({"run": name, **{k: _pm(s, k) for k in s if k in (*SCORE_COLUMNS, "sparsity", "num_samples")},
                     "fid ÷ teacher": "–" if ratio is None else f"{ratio:.3f}"})  # fmt: skip
    cols = ["run", *SCORE_COLUMNS, "fid ÷ teacher", "sparsity", "num_samples"]
    return format_table(rows, [c for c in cols if any(c in r for r in rows)])


def _pm(scores: dict[str, Any], key: str) -> Any:
    """``mean ± ci95`` text for multi-seed scores, the plain value otherwise."""
    ci = scores.get(f"{key}_ci95")
    if isinstance(ci, float) and isinstance(scores[key], float):
        return f"{scores[key]:.4g} ± {ci:.2g}"
    return scores[key]


__all__ = ["RATIO_KEYS", "SCORE_COLUMNS", "ratios_to_teacher", "score_generator", "scores_table"]
