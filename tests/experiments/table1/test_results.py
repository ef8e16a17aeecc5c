"""experiments/table1/results.py: seeds aggregated, flags and false positives derived from a constructed
results.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from gancompress.experiments.table1.results import CONTROL_NAME, cell_done, refresh
from tests.experiments.table1.constructed import constructed_results

# ---------------------------------------------------------------------------------------------- results + report


def test_refresh_aggregates_seeds_flags_and_false_positives(tmp_path: Path) -> None:
    results = refresh(constructed_results(tmp_path))
    ss = results["models"][1]
    assert ss["row"] == "b" and ss["paper_fid"] == 6.929
    assert ss["metrics"]["fid"] == pytest.approx(2.5) and ss["metrics"]["fid_values"] == [2.4, 2.6]
    assert ss["metrics"]["fid_ci95"] == pytest.approx(12.706 * 0.1414214 / 2**0.5, rel=1e-3)  # t(0.975, 1)·s/√n
    assert ss["flag"] == "ok" and ss["false_positive_count"] == 0 and ss["seconds"] == 21.0
    h = results["models"][3]
    assert h["row"] == "h" and h["flag"] == "collapse" and h["flag_counts"] == {"artifacts": 1, "collapse": 1}
    assert h["false_positive_count"] == 1  # seed 0: flat losses, FID 5× the teacher's
    control = results["models"][4]
    assert control["name"] == CONTROL_NAME and control["control"] and control["row"] == "a+"
    assert cell_done(results, "self_supervised", 1) and not cell_done(results, "self_supervised", 2)
