"""experiments/table1/outcome.py: the outcome text is computed from the numbers of a constructed results.json."""

from __future__ import annotations

from pathlib import Path

from gancompress.experiments.table1.outcome import HEADERS, outcome, table
from gancompress.experiments.table1.results import CONTROL_NAME, refresh
from tests.experiments.table1.constructed import constructed_results

# ---------------------------------------------------------------------------------------------- results + report


def test_outcome_text_is_computed_from_the_numbers(tmp_path: Path) -> None:
    results = refresh(constructed_results(tmp_path))
    text = "\n".join(outcome(results))
    assert "Best compressed row (verdict, then FID): d oneshot_finetune" in text
    assert "Baseline d oneshot_finetune beats self_supervised" in text
    # the reference is G_O itself (FID 2.0), not row a's mean over teacher seeds (2.1)
    assert "FID(self_supervised) / FID(G_O) = 1.250: does NOT meet" in text
    assert "Row a over 2 teacher seeds: FID 2.100" in text and "context only" in text
    assert f"FID(self_supervised) / FID({CONTROL_NAME}) = 1.163" in text
    assert "false positives" in text and "h oneshot_distill_adv" in text
    assert "Only 2 seed(s)" in text
    rows = table(results)
    col = {h: i for i, h in enumerate(HEADERS)}
    assert [rows[0][col[h]] for h in ("row", "method", "budget", "seeds")] == ["a", "dense", "full", "2"]
    assert rows[1][col["FID / G_O"]] == "1.25" and rows[1][col["FID / control"]] == "1.16"
    assert rows[3][col["flag"]] == "artifacts 1/2, collapse 1/2" and rows[3][col["false positive"]] == "yes 1/2"
