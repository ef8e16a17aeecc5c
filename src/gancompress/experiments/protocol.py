"""The protocol statements every report carries: the split that was scored, the verdict thresholds, and the
known-bad generators scored beside the real rows (docs/method.md §7; verdict.py; known_bad.py).

Example:
    >>> "collapse if recall" in thresholds_note()
    True
"""

from __future__ import annotations

from collections.abc import Mapping

from gancompress.experiments.verdict import THRESHOLDS
from gancompress.report.formatting import DASH, format_value
from gancompress.report.formatting import to_number as _num
from gancompress.report.render import format_table

#: what a ``--dry-run`` report says instead of any finding: synthetic data, a few steps, tiny widths
DRY_RUN_NOTE = (
    "Dry run: synthetic data, a few training steps and tiny networks. This checks the wiring only — the numbers mean "
    "nothing, so no verdict, ranking or pass mark is drawn from them."
)


def is_dry_run(results: Mapping) -> bool:
    """Whether ``results`` come from a ``--dry-run`` (recorded by the command that wrote them)."""
    return bool(results.get("dry_run") or (results.get("profile") or {}).get("dry_run"))


def _ratio(a: float | None, b: float | None) -> str:
    return DASH if a is None or not b else f"{a / b:.2f}"


#: the columns of the known-bad table
SANITY_HEADERS = ["generator", "FID", "FID / G_O", "recall", "coverage", "rarest class share", "target acc", "flag"]
SANITY_TEXT = (
    "The same evaluator scores generators that are bad by construction (gancompress/experiments/known_bad.py): each "
    "must be flagged, or the verdicts above could not see that failure."
)


def sanity_rows(results: Mapping) -> list[list[str]]:
    """One row per known-bad generator in ``results["sanity"]``: its scores, ratio to G_O and verdict (none for a
    dry run: its teacher is two steps old, nothing is known-good to compare with)."""
    if is_dry_run(results):
        return []
    ref = _num(((results.get("teacher") or {}).get("metrics") or {}).get("fid"))
    out = []
    for name, entry in (results.get("sanity") or {}).items():
        m, v = entry.get("metrics") or {}, entry.get("verdict") or {}
        out.append([
            name, format_value(m.get("fid")), _ratio(_num(m.get("fid")), ref), format_value(m.get("recall")),
            format_value(m.get("coverage")), format_value(m.get("min_class_share")),
            format_value(m.get("target_accuracy")), v.get("flag", DASH),
        ])  # fmt: skip
    return out


def sanity_md(results: Mapping) -> list[str]:
    """The known-bad section of a markdown report (empty without ``results["sanity"]``)."""
    rows = sanity_rows(results)
    if not rows:
        return []
    return ["## Sanity checks: known-bad generators", "", SANITY_TEXT, "", format_table(rows, SANITY_HEADERS), ""]


def split_note(evaluator_info: Mapping) -> str:
    """Which split chose what (docs/method.md §7), from the split this run was scored on."""
    real_set = str(evaluator_info.get("real_set") or "")
    if real_set.endswith("/val"):
        return (
            f"Selection run: scored on the validation split ({real_set}), held out of the training data. Options and "
            "variants are chosen here; the chosen ones are reported once on the test split in a separate run."
        )
    return (
        f"Scored on the test split ({real_set or '?'}). The paper rows use the paper's settings; any option or "
        "variant shown as a choice must have been chosen on a validation-split run (--set eval.split=val), never "
        "on this table."
    )


def thresholds_note() -> str:
    """The verdict thresholds and why, for every report (the reasons are in verdict.py and docs/results.md)."""
    t = THRESHOLDS
    return (
        f"Verdict thresholds (all relative to G_O, calibrated on known-bad generators — docs/results.md "
        f'"Verdict calibration"): collapse if recall < {t["recall_fraction"]}× or coverage < '
        f"{t['coverage_fraction']}× the teacher's, the rarest class below {t['min_class_share']} of its data share "
        f"(and < {t['class_share_fraction']}× the teacher's), or intra-class diversity < {t['diversity_fraction']}×; "
        f"off_target if target accuracy < {t['target_accuracy_fraction']}×; artifacts if FID > "
        f"{t['artifact_fid_ratio']}×. D-side warnings: D entropy on fakes < {t['entropy_floor_bits']} bits and < "
        f"{t['entropy_fraction']}× the teacher's, or a critic's real − fake gap > {t['critic_gap_ratio']}× the "
        f"teacher's. False positive: G and D losses converged while FID > {t['false_positive_fid_ratio']}×."
    )


__all__ = [
    "DRY_RUN_NOTE",
    "SANITY_HEADERS",
    "SANITY_TEXT",
    "is_dry_run",
    "sanity_md",
    "sanity_rows",
    "split_note",
    "thresholds_note",
]
