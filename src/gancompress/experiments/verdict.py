"""Verdicts on a generator — ``collapse`` / ``off_target`` / ``artifacts`` / ``ok`` — and the false-positive mark.

docs/method.md §4 (the paper's App. A.1 reading of the loss curves): for most baselines the curves predicted failure,
but for rows h and m the G and D losses converged like healthy training while the images were bad — a **false
positive** of the curves; a D trained from scratch falls into a **low-entropy solution → mode collapse**. These
functions turn that reading into rules over a run's metrics and its logged curves (``{"g/loss": [[step, value], ...],
"d/loss": ..., "diag/d_entropy": ...}``).

**The reference is the model that was compressed** (docs/method.md §7): every ratio is to G_O scored by the same
evaluator with the same sampling seed — never to a mean over other teacher seeds.

Every threshold below was calibrated on known-bad generators (``known_bad.py``: one class, eight images, noise, the
input copied, a teacher trained half as long) against trained teachers: each of them is flagged, the teacher scored
with other sampling seeds is not (docs/results.md "Verdict calibration"; ``tests/unit/test_verdict.py`` re-runs
the calibration on digits). :data:`THRESHOLDS` lists them for reports.

Example:
    >>> teacher = {"fid": 2.0, "recall": 0.6, "coverage": 0.9, "min_class_share": 0.8, "diversity_ratio": 0.9}
    >>> quality_flag({**teacher, "recall": 0.1}, teacher)["flag"]
    'collapse'
    >>> quality_flag({**teacher, "fid": 9.0}, teacher)["flag"]
    'artifacts'
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from gancompress.report.formatting import to_number

# --- collapse: the generator misses modes of the data (what the paper's low-entropy D produces).
#: Improved recall (Kynkäänniemi et al. 2019: the share of real images inside the generated manifold) below this
#: fraction of the teacher's. Calibration: the teacher re-scored with other sampling seeds keeps ≥ 0.88×; eight
#: replayed images and noise 0×; the StarGAN teacher trained half as long 0.23× (its FID only 1.33×).
RECALL_FRACTION = 0.5
#: Coverage (Naeem et al. 2020: the share of real images whose neighbourhood holds a generated one) below this
#: fraction of the teacher's — the same failure seen with a statistic robust to outliers.
COVERAGE_FRACTION = 0.5
#: The rarest class of the reference data generated at below this share of its data share (``min_class_share``) AND
#: below ``CLASS_SHARE_FRACTION`` × the teacher's own value: a class (mode) nearly dropped. The second condition keeps
#: a teacher whose classes are already uneven from being failed against itself.
MIN_CLASS_SHARE = 0.25
CLASS_SHARE_FRACTION = 0.5
#: Intra-class diversity ratio (fake / real) below this fraction of the teacher's: the images of a class drawn nearly
#: the same way (within-class collapse; a generator repeating one image per class scores 0).
DIVERSITY_FRACTION = 0.7

# --- off target: a translator whose outputs do not show the requested class (StarGAN's domain, CycleGAN's target).
#: Target-class accuracy (the domain classifier's) below this fraction of the teacher's. Calibration: copying the
#: input scores 0.03–0.04× (a different class by construction), the teacher re-scored ≥ 1.00×.
TARGET_ACCURACY_FRACTION = 0.5

#: D-entropy collapse (App. A.1): D's mean binary entropy on fakes over the last logged window below this many bits
#: — the collapse monitor's floor (diagnostics.CollapseMonitor.entropy_floor) — AND below ENTROPY_FRACTION × the
#: teacher's own final entropy (a converged teacher's D is far from certain on its fakes).
ENTROPY_FLOOR = 0.15
ENTROPY_FRACTION = 0.25
#: Critic discriminators (WGAN-GP, LSGAN, hinge: score_kind "critic") have no entropy; their health signal is the gap
#: between D's mean score on real images and on fakes. A final gap above this multiple of the teacher's final gap
#: means D separates the student's fakes far more easily than it separated G_O's (diagnostics.CollapseMonitor uses
#: the same ratio during training).
CRITIC_GAP_RATIO = 3.0
#: Collapse-monitor alarm kinds (written by the training loop): output evidence (coverage drop) and D-side evidence.
COVERAGE_ALARMS = ("class_coverage_drop",)
ENTROPY_ALARMS = ("d_entropy_collapse", "critic_gap_growth")
COLLAPSE_ALARMS = COVERAGE_ALARMS + ENTROPY_ALARMS
#: DECISION: D-side evidence on its own (a low-entropy D or a widening critic gap while the samples keep the teacher's
#: recall, coverage, class shares and diversity) is reported as a warning, not as ``collapse``. Measured in the quick
#: Table 1 run (2026-11-25): D_O's entropy on fakes fell to 0.05 bits for row b (self_supervised) and 0.10 for row n
#: while their samples covered every class at 0.96× / 0.91× the teacher's diversity — under Eq. 9 G_C matches G_O's
#: loss terms instead of fooling D, so a certain D is expected there and says nothing about G's modes. Set True to
#: count D-side evidence alone.
ENTROPY_ALONE_IS_COLLAPSE = False

# --- artifacts / false positive: FID far above the teacher's.
#: FID above this multiple of the teacher's while the modes are there: the images are worse. Calibration on the
#: validation split (docs/results.md "Verdict calibration"): the teacher re-scored with other sampling seeds is within
#: 0.89–1.03× (DCGAN) and 0.99–1.01× (StarGAN), training seeds of a healthy compression within ~1.25×; the DCGAN
#: teacher trained half as long is 1.84× and noise > 40×. (The paper's baselines, rows c–n of docs/method.md §4,
#: are 2.5–32× its dense row; row b 1.13×.)
ARTIFACT_FID_RATIO = 1.5
#: A "false positive" of the loss curves: curves look converged but FID is above this multiple of the teacher's —
#: the definition the earlier Table 1 reports used, kept so their false-positive marks stay comparable.
FALSE_POSITIVE_FID_RATIO = 2.0

# --- "losses look converged": flat and settled over the last part of training.
#: The last this fraction of logged points (each already an average over ``log_every`` steps) is the final window;
#: the window before it (same length) is the comparison window.
CONVERGED_WINDOW = 0.25
#: Fewer logged points than this in the final window: too short to call anything converged.
CONVERGED_MIN_POINTS = 3
#: Coefficient of variation over the final window at most this: low variance, as in healthy training where the
#: windowed losses wobble by a few per cent around a plateau (the paper's h and m curves sit flat near 0).
CONVERGED_CV = 0.2
#: Relative change of the window mean vs the previous window at most this: the loss sits at its final value.
CONVERGED_DRIFT = 0.2
#: Scale floor for the relative measures: losses converging to ~0 (rows h, m) would make tiny absolute noise look
#: huge relative to a near-zero mean; below 0.05 a loss counts as flat when its wobble is small in absolute terms.
LOSS_SCALE_FLOOR = 0.05
#: The curves the paper reads (G's and D's total loss).
LOSS_KEYS = ("g/loss", "d/loss")

FLAGS = ("ok", "artifacts", "off_target", "collapse")  # in increasing severity

#: every threshold with its value, for reports ("the report states the thresholds and why")
THRESHOLDS: dict[str, float] = {
    "recall_fraction": RECALL_FRACTION,
    "coverage_fraction": COVERAGE_FRACTION,
    "min_class_share": MIN_CLASS_SHARE,
    "class_share_fraction": CLASS_SHARE_FRACTION,
    "diversity_fraction": DIVERSITY_FRACTION,
    "target_accuracy_fraction": TARGET_ACCURACY_FRACTION,
    "artifact_fid_ratio": ARTIFACT_FID_RATIO,
    "false_positive_fid_ratio": FALSE_POSITIVE_FID_RATIO,
    "entropy_floor_bits": ENTROPY_FLOOR,
    "entropy_fraction": ENTROPY_FRACTION,
    "critic_gap_ratio": CRITIC_GAP_RATIO,
}


def _values(series: Sequence[Any] | None) -> list[float]:
    out = []
    for p in series or []:
        v = to_number(p[1] if isinstance(p, (list, tuple)) and len(p) >= 2 else p)
        if v is not None:
            out.append(v)
    return out


def series_converged(series: Sequence[Any] | None) -> dict[str, Any]:
    """Whether one logged loss series looks converged: low variance and no drift over its final window.

    Args:
        series: ``[[step, value], ...]`` (or plain values); None/NaN points are skipped.

    Returns:
        ``{"converged": bool | None (None = too short to tell), "cv": float, "drift": float, "final": float}``.

    Example:
        >>> series_converged([[i, 1.0 + 0.01 * (i % 2)] for i in range(40)])["converged"]
        True
        >>> series_converged([[i, 3.0 - 0.05 * i] for i in range(40)])["converged"]
        False
    """
    v = _values(series)
    n = max(CONVERGED_MIN_POINTS, math.ceil(CONVERGED_WINDOW * len(v)))
    if len(v) < 2 * n:
        return {"converged": None, "cv": None, "drift": None, "final": v[-1] if v else None}
    last, prev = v[-n:], v[-2 * n : -n]
    mean = statistics.fmean(last)
    scale = max(abs(mean), LOSS_SCALE_FLOOR)
    cv = statistics.pstdev(last) / scale
    drift = abs(mean - statistics.fmean(prev)) / scale
    return {"converged": cv <= CONVERGED_CV and drift <= CONVERGED_DRIFT, "cv": cv, "drift": drift, "final": mean}


def losses_converged(curves: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """App. A.1's "losses look like healthy training": every logged G and D loss (``LOSS_KEYS``) converged.

    Returns ``{"converged": bool | None, "per_loss": {key: series_converged(...)}}``; ``None`` when no loss series
    is long enough to tell (a row without D is judged on G's loss alone).
    """
    per = {k: series_converged(curves[k]) for k in LOSS_KEYS if curves.get(k)}
    known = [p["converged"] for p in per.values() if p["converged"] is not None]
    return {"converged": (all(known) if known else None), "per_loss": per}


def _ratio(value: Any, ref: Any) -> float | None:
    v, r = to_number(value), to_number(ref)
    return v / r if v is not None and r else None


def _final_median(series: Sequence[Any] | None) -> float | None:
    v = _values(series)
    if not v:
        return None
    return statistics.median(v[-max(CONVERGED_MIN_POINTS, math.ceil(CONVERGED_WINDOW * len(v))) :])


def _gap(curves: Mapping[str, Sequence[Any]] | None) -> float | None:
    """Final-window median of D's real − fake mean score (critic discriminators' health signal)."""
    real, fake = (_values((curves or {}).get(k)) for k in ("diag/d_real", "diag/d_fake"))
    n = min(len(real), len(fake))
    if not n:
        return None
    gaps = [r - f for r, f in zip(real[-n:], fake[-n:], strict=True)]
    return statistics.median(gaps[-max(CONVERGED_MIN_POINTS, math.ceil(CONVERGED_WINDOW * len(gaps))) :])


def _below(value: float | None, teacher: float | None, fraction: float) -> float | None:
    """``value / teacher`` when it is below ``fraction`` (None otherwise or when either is unknown)."""
    if value is None or teacher is None or teacher <= 0:
        return None
    ratio = value / teacher
    return ratio if ratio < fraction else None


def quality_flag(
    metrics: Mapping[str, Any],
    teacher: Mapping[str, Any],
    *,
    curves: Mapping[str, Sequence[Any]] | None = None,
    teacher_curves: Mapping[str, Sequence[Any]] | None = None,
    alarms: Sequence[str] = (),
) -> dict[str, Any]:
    """The verdict on one generator against G_O (``teacher``: the teacher's scores, same evaluator and seed).

    ``collapse`` — recall, coverage, the rarest class's share or intra-class diversity far below the teacher's (D-side
    evidence counts too when the samples corroborate it, or with ``ENTROPY_ALONE_IS_COLLAPSE``); ``off_target`` — a
    translator's target-class accuracy far below the teacher's; ``artifacts`` — FID far above the teacher's with the
    modes and targets fine; else ``ok``. Returns ``{"flag", "reasons", "warnings", "fid_ratio"}``.

    Args:
        metrics: the generator's scores (``fid``, ``recall``, ``coverage``, ``min_class_share``,
            ``diversity_ratio``, ``target_accuracy``; missing keys are skipped).
        teacher: G_O's scores from the same evaluator and sampling seed.
        curves / teacher_curves: logged curves (``diag/d_entropy``, ``diag/d_real``, ``diag/d_fake`` are read).
        alarms: collapse-monitor alarm kinds raised during the run (``COLLAPSE_ALARMS`` count).
    """
    num = {k: to_number(metrics.get(k)) for k in (*_RATIO_KEYS, "fid")}
    ref = {k: to_number(teacher.get(k)) for k in (*_RATIO_KEYS, "fid")}
    reasons: list[str] = []  # output evidence (samples)
    for key, fraction, what in (
        ("recall", RECALL_FRACTION, "recall"),
        ("coverage", COVERAGE_FRACTION, "coverage"),
        ("diversity_ratio", DIVERSITY_FRACTION, "intra-class diversity"),
    ):
        ratio = _below(num[key], ref[key], fraction)
        if ratio is not None:
            reasons.append(f"{what} {ratio:.2f}× the teacher's (< {fraction})")
    share, t_share = num["min_class_share"], ref["min_class_share"]
    if share is not None and share < MIN_CLASS_SHARE and (t_share is None or share < CLASS_SHARE_FRACTION * t_share):
        reasons.append(f"rarest class generated at {share:.2f}× its data share (< {MIN_CLASS_SHARE})")
    d_side: list[str] = []  # D-side evidence
    ent = _final_median((curves or {}).get("diag/d_entropy"))
    t_ent = _final_median((teacher_curves or {}).get("diag/d_entropy"))
    if ent is not None and ent < ENTROPY_FLOOR and (t_ent is None or ent < ENTROPY_FRACTION * t_ent):
        d_side.append(f"D entropy on fakes {ent:.3f} bits at the end (floor {ENTROPY_FLOOR})")
    gap, t_gap = _gap(curves), _gap(teacher_curves)
    if gap is not None and t_gap is not None and t_gap > 0 and gap > CRITIC_GAP_RATIO * t_gap:
        d_side.append(f"D's real − fake score gap {gap / t_gap:.1f}× the teacher's at the end (> {CRITIC_GAP_RATIO})")
    reasons += [f"collapse monitor: {a}" for a in dict.fromkeys(alarms) if a in COVERAGE_ALARMS]
    d_side += [f"collapse monitor: {a}" for a in dict.fromkeys(alarms) if a in ENTROPY_ALARMS]
    warnings: list[str] = []
    if reasons or ENTROPY_ALONE_IS_COLLAPSE:
        reasons += d_side
    else:
        warnings = [f"{w} — samples keep recall, coverage and class shares, so not counted as collapse" for w in d_side]
    fid_ratio = num["fid"] / ref["fid"] if num["fid"] is not None and ref["fid"] else None
    target = _below(num["target_accuracy"], ref["target_accuracy"], TARGET_ACCURACY_FRACTION)
    if reasons:
        flag = "collapse"
    elif target is not None:
        flag = "off_target"
        reasons.append(f"target-class accuracy {target:.2f}× the teacher's (< {TARGET_ACCURACY_FRACTION})")
    elif fid_ratio is not None and fid_ratio > ARTIFACT_FID_RATIO:
        flag = "artifacts"
        reasons.append(f"FID {fid_ratio:.2f}× the teacher's (> {ARTIFACT_FID_RATIO}) with modes and targets fine")
    else:
        flag = "ok"
    return {"flag": flag, "reasons": reasons, "warnings": warnings, "fid_ratio": fid_ratio}


#: the scores quality_flag compares with the teacher's
_RATIO_KEYS = ("recall", "coverage", "diversity_ratio", "min_class_share", "target_accuracy")


def false_positive(
    metrics: Mapping[str, Any], teacher: Mapping[str, Any], curves: Mapping[str, Sequence[Any]]
) -> dict[str, Any]:
    """App. A.1's false positive: the G and D loss curves look converged while FID > ``FALSE_POSITIVE_FID_RATIO`` ×
    the teacher's.

    Example:
        >>> flat = [[i, 0.01] for i in range(40)]
        >>> false_positive({"fid": 30.0}, {"fid": 2.0}, {"g/loss": flat, "d/loss": flat})["false_positive"]
        True
    """
    conv = losses_converged(curves)
    fid_ratio = _ratio(metrics.get("fid"), teacher.get("fid"))
    bad = fid_ratio is not None and fid_ratio > FALSE_POSITIVE_FID_RATIO
    return {"false_positive": bool(conv["converged"]) and bad, "converged": conv["converged"], "fid_ratio": fid_ratio}


def worst_flag(flags: Sequence[str]) -> str:
    """The most severe of ``flags`` (``collapse`` > ``off_target`` > ``artifacts`` > ``ok``); ``ok`` for none."""
    return max(flags, key=FLAGS.index, default="ok")


__all__ = [
    "ARTIFACT_FID_RATIO",
    "COVERAGE_FRACTION",
    "CRITIC_GAP_RATIO",
    "DIVERSITY_FRACTION",
    "ENTROPY_ALONE_IS_COLLAPSE",
    "ENTROPY_FLOOR",
    "FALSE_POSITIVE_FID_RATIO",
    "FLAGS",
    "MIN_CLASS_SHARE",
    "RECALL_FRACTION",
    "TARGET_ACCURACY_FRACTION",
    "THRESHOLDS",
    "false_positive",
    "losses_converged",
    "quality_flag",
    "series_converged",
    "worst_flag",
]
