"""The structured study's rows (experiments/sweeps/structured.py) and its report (structured_report.py)."""

from __future__ import annotations

from gancompress.config import RunCfg
from gancompress.experiments.sweeps.structured import RECIPE, row_settings
from gancompress.experiments.sweeps.structured_report import structured_outcome, structured_rows


def test_rows_share_the_channel_selection_and_only_ours_has_the_recipe() -> None:
    cfg = RunCfg()
    ours, prune, _ = row_settings(cfg, "ours", 0.25, round_to=8)
    paper, prune_p, _ = row_settings(cfg, "paper", 0.25, round_to=8)
    d, _, _ = row_settings(cfg, "row_d", 0.1)
    c, _, _ = row_settings(cfg, "row_c", 0.1)
    assert prune == prune_p and prune.granularity == "channel" and prune.target_macs == 0.25 and prune.round_to == 8
    assert (ours.name, paper.name, d.name, c.name) == (
        "self_supervised", "self_supervised", "oneshot_finetune", "same_widths_scratch",
    )  # fmt: skip
    assert paper == type(paper)(name="self_supervised")  # the paper's Eq. 9 alone
    if RECIPE:
        assert ours != paper


def test_the_users_set_wins_over_the_recipe_for_ours() -> None:
    """An explicit ``--set method.anchor=10`` must change ``ours``, not be replaced by the recipe's anchor."""
    from gancompress.config import override

    cfg = override(RunCfg(), ["method.anchor=10"])
    ours, _, _ = row_settings(cfg, "ours", 0.25, recipe=("method.anchor=100",), overrides=["method.anchor=10"])
    assert ours.anchor == 10
    ours, _, _ = row_settings(cfg, "ours", 0.25, recipe=("method.anchor=100",))  # no --set given: the recipe's
    assert ours.anchor == 100
    paper, _, _ = row_settings(cfg, "paper", 0.25, recipe=("method.anchor=100",), overrides=["method.anchor=10"])
    assert paper.anchor == 0  # the paper's row keeps Eq. 9 alone whatever --set says about the recipe's keys


def _results() -> dict:
    def cell(row: str, target: float, seed: int, fid: float) -> dict:
        return {"granularity": row, "sparsity": target, "seed": seed, "metrics": {"fid": fid},
                "mac_reduction": 4.0, "params": 100}  # fmt: skip

    cells = {f"{r}@0.25/s{s}": cell(r, 0.25, s, f + 0.01 * s) for r, f in (("ours", 2.0), ("row_c", 3.0))
             for s in range(3)}  # fmt: skip
    cells["control@0/s0"] = {"granularity": "control", "sparsity": 0.0, "seed": 0, "metrics": {"fid": 1.9}}
    timed = {"model": "ours@0.25/s0", "batch": 16, "threads": 2}
    latency = {"rows": [{**timed, "backend": "onnx", "speedup": 3.2}, {**timed, "backend": "eager", "speedup": 2.5}]}
    return {
        "kind": "structured", "plan": {"seeds": [0, 1, 2], "points": [["ours", 0.25], ["row_c", 0.25], ["control", 0]]},
        "tasks": {"dcgan": {"teacher": {"metrics": {"fid": 1.9}}, "cells": cells}}, "latency": {"dcgan": latency},
    }  # fmt: skip


def test_report_rows_and_outcome_state_ratios_speed_and_misses() -> None:
    results = _results()
    headers, rows = structured_rows(results, "dcgan")
    ours = next(r for r in rows if r[1] == "ours")
    assert ours[headers.index("FID / G_O")] == f"{2.01 / 1.9:.3f}"
    assert ours[headers.index("speed-up 2 thr b16 (best)")] == "3.20× (onnx)"  # the best backend
    assert ours[headers.index("speed-up / MAC ratio")] == "0.80"
    (line,) = structured_outcome(results)
    assert "1.058× G_O (meets ≤ 1.1×)" in line and "beats row_c" in line and "meets ≥ 0.7" in line


def test_report_shows_the_evaluators_task_metrics_for_every_row() -> None:
    """PSNR / SSIM (paired tasks) and target accuracy under the keys evaluate.py writes, averaged over seeds."""
    results = _results()
    task = results["tasks"]["dcgan"]
    task["teacher"]["metrics"].update(target_psnr=20.0, target_ssim=0.8)
    for cell in task["cells"].values():
        cell["metrics"].update(target_psnr=18.0 + cell["seed"], target_ssim=0.7, target_accuracy=0.9)
    headers, rows = structured_rows(results, "dcgan")
    col = headers.index("task metrics")
    by_row = {r[1]: r[col] for r in rows}
    assert by_row["G_O (teacher)"] == "PSNR 20.00, SSIM 0.800"
    assert by_row["ours"] == "PSNR 19.00, SSIM 0.700, target acc 0.900"  # mean of seeds 0, 1, 2
    assert by_row["control (dense, same budget)"] == "PSNR 18.00, SSIM 0.700, target acc 0.900"


def test_eager_column_never_reports_onnx_runtime() -> None:
    """The 1-thread batch-1 column is labelled eager: a faster ONNX Runtime time there must not leak into it."""
    results = _results()
    timed = {"model": "ours@0.25/s0", "batch": 1, "threads": 1}
    results["latency"]["dcgan"]["rows"] += [{**timed, "backend": "onnx", "speedup": 3.4},
                                            {**timed, "backend": "eager", "speedup": 2.1}]  # fmt: skip
    headers, rows = structured_rows(results, "dcgan")
    ours = next(r for r in rows if r[1] == "ours")
    assert ours[headers.index("speed-up eager 1 thr b1")] == "2.10×"
