"""experiments/verdict.py: each rule on hand-made scores, the loss-curve false positive, and the calibration on
known-bad generators (experiments/known_bad.py) against a trained digits teacher — every known-bad generator
flagged, the teacher not.
"""

from __future__ import annotations

import pytest

from gancompress.experiments.known_bad import known_bad
from gancompress.experiments.verdict import (
    ARTIFACT_FID_RATIO,
    FALSE_POSITIVE_FID_RATIO,
    THRESHOLDS,
    false_positive,
    losses_converged,
    quality_flag,
    series_converged,
    worst_flag,
)

TEACHER = {
    "fid": 2.0, "recall": 0.6, "coverage": 0.9, "min_class_share": 0.8, "diversity_ratio": 0.9,
    "target_accuracy": 0.9,
}  # fmt: skip


def flat(value: float, n: int = 40, wobble: float = 0.0) -> list[list[float]]:
    return [[20 * (i + 1), value + wobble * (-1) ** i] for i in range(n)]


def ramp(start: float, stop: float, n: int = 40) -> list[list[float]]:
    return [[20 * (i + 1), start + (stop - start) * i / (n - 1)] for i in range(n)]


# --------------------------------------------------------------------------------------------------- loss curves


def test_series_converged_flat_moving_short_and_near_zero() -> None:
    assert series_converged(flat(1.2, wobble=0.05))["converged"] is True
    assert series_converged(ramp(3.0, 0.5))["converged"] is False  # still drifting
    assert series_converged(flat(1.0, wobble=0.6))["converged"] is False  # high variance
    assert series_converged(flat(1.0, n=5))["converged"] is None  # too short to tell
    # a loss sitting at ~0 with tiny absolute noise is converged (the paper's h / m curves), thanks to the floor
    assert series_converged(flat(0.001, wobble=0.001))["converged"] is True
    assert series_converged([[1, float("nan")], *flat(1.0)])["converged"] is True  # NaN points skipped


def test_losses_converged_needs_every_logged_loss() -> None:
    assert losses_converged({"g/loss": flat(0.5), "d/loss": flat(1.3)})["converged"] is True
    assert losses_converged({"g/loss": flat(0.5), "d/loss": ramp(1.3, 0.1)})["converged"] is False
    assert losses_converged({"g/loss": flat(0.5)})["converged"] is True  # no D (row g): G's loss alone
    assert losses_converged({})["converged"] is None


def test_false_positive_converged_losses_with_bad_fid() -> None:
    curves = {"g/loss": flat(0.02, wobble=0.002), "d/loss": flat(0.01, wobble=0.001)}
    bad = FALSE_POSITIVE_FID_RATIO * TEACHER["fid"] * 1.5
    assert false_positive({"fid": bad}, TEACHER, curves)["false_positive"] is True
    assert false_positive({"fid": 2.1}, TEACHER, curves)["false_positive"] is False  # FID fine: a true negative
    moving = {"g/loss": ramp(4.0, 0.2), "d/loss": flat(0.01)}
    assert false_positive({"fid": bad}, TEACHER, moving)["false_positive"] is False  # curves predicted failure
    assert false_positive({"fid": bad}, {}, curves)["false_positive"] is False  # no teacher FID: no claim


# ----------------------------------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    ("change", "flag", "reason"),
    [
        ({"fid": 2.2}, "ok", None),
        ({"recall": 0.2}, "collapse", "recall"),
        ({"coverage": 0.3}, "collapse", "coverage"),
        ({"min_class_share": 0.1}, "collapse", "rarest class"),
        ({"diversity_ratio": 0.3}, "collapse", "diversity"),
        ({"target_accuracy": 0.1}, "off_target", "target-class accuracy"),
        ({"fid": 2.0 * ARTIFACT_FID_RATIO + 1}, "artifacts", "FID"),
        ({"fid": 50.0, "recall": 0.01}, "collapse", "recall"),  # collapse outranks artifacts
        ({"fid": 50.0, "target_accuracy": 0.0}, "off_target", "target"),  # a copy of the input: off target first
    ],
)
def test_quality_flag_rules(change: dict, flag: str, reason: str | None) -> None:
    out = quality_flag({**TEACHER, **change}, TEACHER)
    assert out["flag"] == flag, out
    if reason:
        assert any(reason in r for r in out["reasons"]), out["reasons"]
    else:
        assert out["reasons"] == []


def test_the_teacher_against_itself_is_ok_even_with_uneven_classes() -> None:
    uneven = {**TEACHER, "min_class_share": 0.15}  # below MIN_CLASS_SHARE, but so is the reference
    assert quality_flag(uneven, uneven)["flag"] == "ok"
    assert quality_flag({**uneven, "min_class_share": 0.05}, uneven)["flag"] == "collapse"
    assert quality_flag({}, TEACHER)["flag"] == "ok"  # nothing to judge on


@pytest.mark.parametrize(
    "kwargs",
    [
        {"curves": {"diag/d_entropy": ramp(0.9, 0.01)}},
        {"alarms": ["d_entropy_collapse"]},
        {"alarms": ["critic_gap_growth"]},
        {"curves": {"diag/d_real": flat(5.0), "diag/d_fake": flat(-5.0)}},  # gap 10 vs the teacher's 1
    ],
)
def test_d_side_evidence_alone_is_a_warning_unless_configured(kwargs: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    teacher_curves = {"diag/d_entropy": flat(0.7), "diag/d_real": flat(0.5), "diag/d_fake": flat(-0.5)}
    out = quality_flag(dict(TEACHER), TEACHER, teacher_curves=teacher_curves, **kwargs)
    assert out["flag"] == "ok" and out["reasons"] == [] and len(out["warnings"]) == 1
    out = quality_flag({**TEACHER, "recall": 0.1}, TEACHER, teacher_curves=teacher_curves, **kwargs)
    assert out["flag"] == "collapse" and len(out["reasons"]) == 2  # corroborated by the samples: counted
    monkeypatch.setattr("gancompress.experiments.verdict.ENTROPY_ALONE_IS_COLLAPSE", True)
    out = quality_flag(dict(TEACHER), TEACHER, teacher_curves=teacher_curves, **kwargs)
    assert out["flag"] == "collapse" and out["warnings"] == []


def test_low_entropy_or_wide_gap_is_fine_when_the_teacher_had_it_too() -> None:
    low = {"diag/d_entropy": flat(0.1), "diag/d_real": flat(3.0), "diag/d_fake": flat(-3.0)}
    out = quality_flag(dict(TEACHER), TEACHER, curves=low, teacher_curves=low)
    assert out["flag"] == "ok" and out["warnings"] == []


def test_coverage_drop_alarm_is_output_evidence() -> None:
    assert quality_flag(dict(TEACHER), TEACHER, alarms=["class_coverage_drop"])["flag"] == "collapse"


def test_worst_flag_and_thresholds_listed() -> None:
    assert worst_flag(["ok", "collapse", "artifacts"]) == "collapse"
    assert worst_flag(["ok", "off_target", "artifacts"]) == "off_target"
    assert worst_flag(["ok", "artifacts"]) == "artifacts" and worst_flag([]) == "ok"
    assert {"recall_fraction", "target_accuracy_fraction", "critic_gap_ratio"} <= set(THRESHOLDS)


# --------------------------------------------------------------------------------------------------- calibration


def test_calibration_every_known_bad_generator_is_flagged_and_the_teacher_is_not(digits_teacher: dict) -> None:
    trained = digits_teacher
    ev, loss = trained["ev"], trained["loss"]
    teacher = ev.evaluate(trained["g"], loss, seed=0)
    for seed in (1, 2):  # the teacher scored with other sampling seeds: sampling noise must not fail it
        again = quality_flag(ev.evaluate(trained["g"], loss, seed=seed), teacher)
        assert again["flag"] == "ok", again
    bad = dict(known_bad(trained["train"], (1, 16, 16)))
    bad["half_trained"] = trained["half"]
    for name, g in bad.items():
        verdict = quality_flag(ev.evaluate(g, loss, seed=0), teacher)
        assert verdict["flag"] != "ok", (name, verdict)
