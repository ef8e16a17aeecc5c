"""The report of ``reproduce structured``: per task and MAC target, each row's quality next to its measured speed.

Quality is FID over seeds (mean ± 95 % CI) with its ratio to G_O (the teacher compressed) and to the same-budget
dense control; the task metrics are PSNR / SSIM for paired tasks and target accuracy for StarGAN. Cost is the
deployable generator's MACs and parameters, and its measured speed-up over G_O: the best backend at 2 threads and
batch 16, with eager PyTorch at 1 thread beside it. The targets (docs/results.md "Faster at the same quality") are
checked in plain sentences, and a miss is reported with its size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gancompress.experiments.sweeps.structured import ROWS
from gancompress.metrics.summary import summarize
from gancompress.report.svgchart import render_curves_svg

CONTROL = "control"
#: (MAC target, FID / G_O limit): ≈ 4× fewer MACs at ≤ 1.10×, ≈ 10× fewer at ≤ 1.25×
QUALITY_TARGETS = {0.25: 1.10, 0.1: 1.25}
#: measured speed-up ≥ this × the MAC ratio (best backend, 2 threads, batch 16)
SPEED_OVER_MACS = 0.7
#: the evaluator's task metrics (evaluate.py) → (label, digits): PSNR / SSIM to the ground truth of paired tasks,
#: target-class accuracy of conditional ones
TASK_METRICS = {"target_psnr": ("PSNR", 2), "target_ssim": ("SSIM", 3), "target_accuracy": ("target acc", 3)}


def _cells(task: Mapping, row: str, target: float) -> list[Mapping]:
    return [
        c for c in task["cells"].values()
        if c["granularity"] == row and abs(float(c["sparsity"]) - target) < 1e-9 and "metrics" in c
    ]  # fmt: skip


def stats(task: Mapping, row: str, target: float, key: str = "fid") -> dict[str, Any] | None:
    values = [c["metrics"][key] for c in _cells(task, row, target) if c["metrics"].get(key) is not None]
    return summarize(values) if values else None


def _targets(results: Mapping) -> list[float]:
    return sorted({float(t) for r, t in results["plan"]["points"] if r != CONTROL}, reverse=True)


def _rows(results: Mapping) -> list[str]:
    return [r for r in ROWS if any(p[0] == r for p in results["plan"]["points"])]


def speed(
    results: Mapping, task: str, key: str, *, threads: int = 2, batch: int = 16, backend: str | None = None
) -> tuple[float | None, str]:
    """The best measured speed-up over G_O (and its backend) of cell ``key`` at ``threads`` and ``batch``.

    ``backend`` restricts the choice to one backend (the eager column must not pick ONNX Runtime's faster time).
    """
    best: tuple[float | None, str] = (None, "")
    for r in (results.get("latency") or {}).get(task, {}).get("rows", []):
        same = r["model"] == key and r["batch"] == batch and r.get("threads", 1) == threads
        same = same and (backend is None or r["backend"] == backend)
        if same and r.get("speedup") and (best[0] is None or r["speedup"] > best[0]):
            best = (r["speedup"], r["backend"])
    return best


def _first_key(task: Mapping, row: str, target: float, seed: int) -> str:
    return next(
        (k for k, c in task["cells"].items()
         if c["granularity"] == row and abs(float(c["sparsity"]) - target) < 1e-9 and c["seed"] == seed), ""
    )  # fmt: skip


def _fmt(s: Mapping | None, digits: int = 3) -> str:
    if s is None:
        return "–"
    return f"{s['mean']:.{digits}f}" + (f" ± {s['ci95']:.{digits}f}" if s["n"] > 1 else "")


def structured_rows(results: Mapping, task: str) -> tuple[list[str], list[list[str]]]:
    t = results["tasks"][task]
    seed = results["plan"]["seeds"][0]
    teacher = (t.get("teacher") or {}).get("metrics", {})
    control = stats(t, CONTROL, 0.0)
    headers = [
        "MAC target", "row", "MACs (× fewer)", "params", "FID ± 95 % CI", "FID / G_O", "FID / control",
        "task metrics", "speed-up 2 thr b16 (best)", "speed-up / MAC ratio", "speed-up eager 1 thr b1",
    ]  # fmt: skip
    out = [["–", "G_O (teacher)", "1×", "–", _fmt({"mean": teacher.get("fid"), "n": 1}) if teacher.get("fid") else "–",
            "1.000", "–", _task_metrics(teacher), "1×", "–", "1×"]]  # fmt: skip
    if control:
        ratio = control["mean"] / teacher["fid"] if teacher.get("fid") else None
        out.append(["–", "control (dense, same budget)", "1×", "–", _fmt(control),
                    f"{ratio:.3f}" if ratio else "–", "1.000", _row_task_metrics(t, CONTROL, 0.0), "1×", "–",
                    "1×"])  # fmt: skip
    for target in _targets(results):
        for row in _rows(results):
            cells = _cells(t, row, target)
            if not cells:
                continue
            fid = stats(t, row, target)
            macs = cells[0].get("mac_reduction")
            key = _first_key(t, row, target, seed)
            sp, backend = speed(results, task, key)
            sp1, _ = speed(results, task, key, threads=1, batch=1, backend="eager")
            out.append([
                f"{1 / target:.0f}× ({target:g})", row, f"{macs:.2f}×" if macs else "–",
                f"{cells[0].get('params', '–')}", _fmt(fid),
                f"{fid['mean'] / teacher['fid']:.3f}" if fid and teacher.get("fid") else "–",
                f"{fid['mean'] / control['mean']:.3f}" if fid and control else "–",
                _row_task_metrics(t, row, target),
                f"{sp:.2f}× ({backend})" if sp else "–", f"{sp / macs:.2f}" if sp and macs else "–",
                f"{sp1:.2f}×" if sp1 else "–",
            ])  # fmt: skip
    return headers, out


def _task_metrics(m: Mapping) -> str:
    return ", ".join(f"{label} {m[k]:.{d}f}" for k, (label, d) in TASK_METRICS.items() if m.get(k) is not None)


def _row_task_metrics(task: Mapping, row: str, target: float) -> str:
    """A row's task metrics, each the mean over its seeds."""
    return _task_metrics({k: (stats(task, row, target, k) or {}).get("mean") for k in TASK_METRICS})


def structured_outcome(results: Mapping) -> list[str]:
    """Targets met or missed, by how much; where a baseline ties or beats ``ours`` it is said here."""
    lines = []
    seed = results["plan"]["seeds"][0]
    for name, t in results["tasks"].items():
        fid_o = (t.get("teacher") or {}).get("metrics", {}).get("fid")
        if not fid_o:
            continue
        for target in _targets(results):
            ours = stats(t, "ours", target)
            if ours is None:
                continue
            limit = QUALITY_TARGETS.get(target)
            ratio = ours["mean"] / fid_o
            verdict = "" if limit is None else f" ({'meets' if ratio <= limit else 'misses'} ≤ {limit}×)"
            line = f"{name} at {1 / target:.0f}× fewer MACs: ours FID {ratio:.3f}× G_O{verdict}"
            for row in ("row_c", "row_d", "paper"):
                other = stats(t, row, target)
                if other is None:
                    continue
                line += f"; {_relation(ours, other)} {row} ({other['mean'] / fid_o:.3f}×)"
            sp, backend = speed(results, name, _first_key(t, "ours", target, seed))
            cells = _cells(t, "ours", target)
            macs = cells[0].get("mac_reduction") if cells else None
            if sp and macs:
                ok = sp >= SPEED_OVER_MACS * macs
                line += (
                    f"; measured {sp:.2f}× faster ({backend}, 2 threads, batch 16) for {macs:.2f}× fewer MACs "
                    f"= {sp / macs:.2f} of the MAC ratio ({'meets' if ok else 'misses'} ≥ {SPEED_OVER_MACS})"
                )
            lines.append(line)
    return lines


def _relation(ours: Mapping, other: Mapping) -> str:
    """``beats`` / ``is beaten by`` only with separated 95 % intervals (≥ 2 seeds each); else a tie, with the lower
    mean named — docs/results.md "The protocol these numbers follow": no ordering claim from overlapping intervals."""
    if ours["n"] > 1 and other["n"] > 1:
        if ours["mean"] + ours["ci95"] < other["mean"] - other["ci95"]:
            return "beats"
        if other["mean"] + other["ci95"] < ours["mean"] - ours["ci95"]:
            return "is beaten by"
    lower = "ours" if ours["mean"] <= other["mean"] else "theirs"
    return f"ties (intervals overlap; lower mean: {lower})"


def quality_vs_speed_svg(results: Mapping, task: str) -> str | None:
    """One line per row: (measured speed-up, FID / G_O) at each MAC target; ``None`` before latency exists."""
    t = results["tasks"][task]
    fid_o = (t.get("teacher") or {}).get("metrics", {}).get("fid")
    seed = results["plan"]["seeds"][0]
    curves: dict[str, list[list[float]]] = {}
    for row in _rows(results):
        for target in sorted(_targets(results), reverse=True):
            fid = stats(t, row, target)
            sp, _ = speed(results, task, _first_key(t, row, target, seed))
            if fid and sp and fid_o:
                curves.setdefault(row, []).append([sp, fid["mean"] / fid_o])
    if not curves:
        return None
    curves["G_O"] = [[1.0, 1.0]]
    return render_curves_svg(curves, title=f"{task}: FID / G_O (y) vs measured speed-up, 2 threads, batch 16 (x)")


__all__ = ["QUALITY_TARGETS", "quality_vs_speed_svg", "structured_outcome", "structured_rows"]
