"""Qualitative verdicts on a trained generator: ``collapse`` / ``artifacts`` / ``ok``, and the false-positive mark.

PAPER.md §4 (the paper's App. A.1 reading of the loss curves): for most baselines the curves predicted failure, but
for rows h and m the G and D losses converged like healthy training while the images were bad — a **false
positive** of the curves; a D trained from scratch falls into a **low-entropy solution → mode collapse**. These
functions turn that reading into rules over a run's metrics (against the teacher's, scored by the same evaluator)
and its logged curves (``{"g/loss": [[step, value], ...], "d/loss": ..., "diag/d_entropy": ...}``).

Example:
    >>> teacher = {"fid": 2.0, "class_coverage": 1.0, "diversity_ratio": 0.9}
    >>> quality_flag({"fid": 9.0, "class_coverage": 0.5, "diversity_ratio": 0.8}, teacher)["flag"]
    'collapse'
    >>> quality_flag({"fid": 9.0, "class_coverage": 1.0, "diversity_ratio": 0.9}, teacher)["flag"]
    'artifacts'
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from gancompress.formatting import to_number

# --- collapse: mode dropping is what the paper's "low-entropy D → mode collapse" produces.
#: Class coverage below this fraction of the teacher's. With 10 classes and a teacher covering all of them, 0.85
#: tolerates one class under-drawn (seed noise at 1,000–2,000 samples) and flags two or more dropped classes.
COVERAGE_FRACTION = 0.85
#: Intra-class diversity ratio (fake / real) below this fraction of the teacher's: the samples of a class drawn
#: nearly the same way (within-class collapse; a generator repeating one image per class scores 0). A 30 % loss of
#: spread is a large, visible drop, not sampling noise.
DIVERSITY_FRACTION = 0.7
#: D-entropy collapse (App. A.1): D's mean binary entropy on fakes over the last logged window below this many bits
#: — the collapse monitor's floor (diagnostics.CollapseMonitor.entropy_floor) — AND below ENTROPY_FRACTION × the
#: teacher's own final entropy (a converged teacher's D is far from certain on its fakes).
ENTROPY_FLOOR = 0.15
ENTROPY_FRACTION = 0.25
#: Collapse-monitor alarm kinds (written by the training loop): output evidence (coverage drop) and D-side evidence.
COVERAGE_ALARMS = ("class_coverage_drop",)
ENTROPY_ALARMS = ("d_entropy_collapse",)
COLLAPSE_ALARMS = COVERAGE_ALARMS + ENTROPY_ALARMS
#: DECISION: a D-entropy collapse on its own (samples keep the teacher's class coverage and diversity) is reported as
#: a warning, not as ``collapse``. Measured in the quick Table 1 run (runs/table1-quick, 2026-11-25): D_O's entropy on
#: fakes fell to 0.05 bits for row b (self_supervised) and 0.10 for row n while their samples covered 10/10 classes
#: at 0.96× / 0.91× the teacher's diversity — under Eq. 9 G_C matches G_O's loss terms instead of fooling D, so a
#: certain D is expected there and says nothing about G's modes. Set True to count entropy alone (the brief's rule).
ENTROPY_ALONE_IS_COLLAPSE = False

# --- artifacts / false positive: FID far above the teacher's.
#: FID above this multiple of the teacher's while coverage is fine: the modes are there but the images are wrong.
#: 2× is well above the training-seed spread of our FIDs (95 % intervals of ±5–30 % in
#: benchmarks/results/2026-11-25_ss_variants_fmnist_dcgan.jsonl) and below every baseline of the paper (rows c–n
#: of PAPER.md §4 are 2.5–32× its dense row's FID; row b is 1.13×).
ARTIFACT_FID_RATIO = 2.0
#: A "false positive" of the loss curves: curves look converged but FID is above this multiple of the teacher's.
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

FLAGS = ("ok", "artifacts", "collapse")  # in increasing severity


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


def quality_flag(
    metrics: Mapping[str, Any],
    teacher: Mapping[str, Any],
    *,
    curves: Mapping[str, Sequence[Any]] | None = None,
    teacher_curves: Mapping[str, Sequence[Any]] | None = None,
    alarms: Sequence[str] = (),
) -> dict[str, Any]:
    """``collapse`` (coverage / diversity far below the teacher's; D-entropy collapse too when corroborated by the
    samples or ``ENTROPY_ALONE_IS_COLLAPSE``), ``artifacts`` (FID far above the teacher's with coverage fine) or
    ``ok``, with the reasons and ``warnings`` (D-entropy collapse the samples do not show).

    Args:
        metrics: the generator's scores (``fid``, ``class_coverage``, ``diversity_ratio``; missing keys are skipped).
        teacher: the teacher's scores from the same evaluator and sampling seed.
        curves / teacher_curves: logged curves (``diag/d_entropy`` is read).
        alarms: collapse-monitor alarm kinds raised during the run (``COLLAPSE_ALARMS`` count).
    """
    reasons: list[str] = []  # output evidence (samples)
    d_side: list[str] = []  # D-entropy evidence
    cov = _ratio(metrics.get("class_coverage"), teacher.get("class_coverage"))
    if cov is not None and cov < COVERAGE_FRACTION:
        reasons.append(f"class coverage {cov:.2f}× the teacher's (< {COVERAGE_FRACTION})")
    div = _ratio(metrics.get("diversity_ratio"), teacher.get("diversity_ratio"))
    if div is not None and div < DIVERSITY_FRACTION:
        reasons.append(f"intra-class diversity {div:.2f}× the teacher's (< {DIVERSITY_FRACTION})")
    ent = _final_median((curves or {}).get("diag/d_entropy"))
    t_ent = _final_median((teacher_curves or {}).get("diag/d_entropy"))
    if ent is not None and ent < ENTROPY_FLOOR and (t_ent is None or ent < ENTROPY_FRACTION * t_ent):
        d_side.append(f"D entropy on fakes {ent:.3f} bits at the end (floor {ENTROPY_FLOOR})")
    reasons += [f"collapse monitor: {a}" for a in dict.fromkeys(alarms) if a in COVERAGE_ALARMS]
    d_side += [f"collapse monitor: {a}" for a in dict.fromkeys(alarms) if a in ENTROPY_ALARMS]
    warnings: list[str] = []
    if reasons or ENTROPY_ALONE_IS_COLLAPSE:
        reasons += d_side
    else:
        warnings = [f"{w} — samples keep coverage and diversity, so not counted as collapse" for w in d_side]
    fid_ratio = _ratio(metrics.get("fid"), teacher.get("fid"))
    if reasons:
        flag = "collapse"
    elif fid_ratio is not None and fid_ratio > ARTIFACT_FID_RATIO:
        flag = "artifacts"
        reasons.append(f"FID {fid_ratio:.2f}× the teacher's (> {ARTIFACT_FID_RATIO}) with coverage fine")
    else:
        flag = "ok"
    return {"flag": flag, "reasons": reasons, "warnings": warnings, "fid_ratio": fid_ratio}


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
    """The most severe of ``flags`` (``collapse`` > ``artifacts`` > ``ok``); ``ok`` for none."""
    return max(flags, key=FLAGS.index, default="ok")


__all__ = [
    "ARTIFACT_FID_RATIO",
    "COVERAGE_FRACTION",
    "DIVERSITY_FRACTION",
    "ENTROPY_ALONE_IS_COLLAPSE",
    "ENTROPY_FLOOR",
    "FALSE_POSITIVE_FID_RATIO",
    "FLAGS",
    "false_positive",
    "losses_converged",
    "quality_flag",
    "series_converged",
    "worst_flag",
]
