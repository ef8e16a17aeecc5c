"""A constructed ``reproduce table1`` results.json (no training): teacher FID 2; rows a, b, d, h and the control over 2
seeds — shared by the table1 tests and the report layout tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gancompress.experiments.table1.results import new_row

TEACHER = {"fid": 2.0, "recall": 0.6, "coverage": 0.9, "min_class_share": 0.8, "diversity_ratio": 0.9}


def flat(value: float, n: int = 40, wobble: float = 0.0) -> list[list[float]]:
    return [[20 * (i + 1), value + wobble * (-1) ** i] for i in range(n)]


def ramp(start: float, stop: float, n: int = 40) -> list[list[float]]:
    return [[20 * (i + 1), start + (stop - start) * i / (n - 1)] for i in range(n)]


def cell(seed: int, fid: float, *, curves: dict | None = None, recall: float = 0.6) -> dict[str, Any]:
    metrics = {"fid": fid, "kid": fid / 100, "precision": 0.7, "recall": recall, "coverage": 0.9}
    metrics |= {"min_class_share": 0.8, "diversity_ratio": 0.9, "sparsity": 0.5, "params": 1000, "nonzero": 500}
    return {
        "seed": seed, "metrics": metrics, "steps": 120, "seconds": 10.0 + seed, "samples": f"samples/x_s{seed}.png",
        "curves": curves or {"g/loss": ramp(2.0, 1.0), "d/loss": ramp(1.0, 1.3), "diag/d_entropy": flat(0.7)},
        "alarms": [],
    }  # fmt: skip


def constructed_results(tmp_path: Path) -> dict[str, Any]:
    """Teacher FID 2; rows a, b, d, h (h: flat losses + FID 10 = false positive; d beats b), control; 2 seeds."""
    flat_curves = {"g/loss": flat(0.01, wobble=0.001), "d/loss": flat(0.02, wobble=0.001)}
    rows = {
        ("dense", None, "full"): [cell(0, 2.0), cell(1, 2.2)],
        ("self_supervised", None, "compress"): [cell(0, 2.4), cell(1, 2.6)],
        ("oneshot_finetune", None, "compress"): [cell(0, 2.3), cell(1, 2.35)],
        ("oneshot_distill_adv", None, "compress"): [cell(0, 10.0, curves=flat_curves), cell(1, 11.0, recall=0.1)],
        ("oneshot_finetune", "continued", "compress"): [cell(0, 2.1), cell(1, 2.2)],
    }
    models = []
    for (method, variant, budget), cells in rows.items():
        row = new_row(method, variant, budget=budget, description="d")
        row["cells"] = {str(c["seed"]): c for c in cells}
        models.append(row)
    grid = np.zeros((10, 10), np.uint8)
    (tmp_path / "samples").mkdir(exist_ok=True)
    for s in (0, 1):
        Image.fromarray(grid).save(tmp_path / "samples" / f"x_s{s}.png")
    return {
        "kind": "table1",
        "title": "t",
        "teacher": {"steps": 600, "metrics": dict(TEACHER), "curves": {"diag/d_entropy": flat(0.7)}},
        "profile": {"name": "quick", "teacher_steps": 600, "budget_fraction": 0.2},
        "timing": {"wall_seconds": 600.0, "evaluator_seconds": 30.0, "teacher_seconds": 100.0},
        "models": models,
    }
