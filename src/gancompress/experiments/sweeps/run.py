"""``gancompress reproduce table2`` and ``reproduce granularity``: plan, resume, teachers, cells, latency, report.

- ``table2``: every task (tasks.py) × element sparsity {25, 50, 75, 90} % — the 0 % column is the teacher — laid out
  as the paper's Table 2 with the ratio to dense and the paper's ratio beside it (docs/method.md §5).
- ``granularity``: element / vector / kernel / N:4 / filter × {25, 50, 75, 90} % on ≥ 2 tasks (default dcgan and
  pix2pix), quality and measured CPU latency side by side — the trade-off a user chooses from.

Example:
    $ gancompress reproduce table2 --profile quick --jobs 2 --out runs/table2-quick
    $ gancompress reproduce granularity --tasks dcgan,pix2pix --profile quick --jobs 2 --out runs/gran-quick
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gancompress.config import override
from gancompress.errors import UserError
from gancompress.experiments.cellpool import run_pool
from gancompress.experiments.profile import pick
from gancompress.experiments.settings import ReproduceSettings
from gancompress.experiments.sweeps.latency import measure_latency
from gancompress.experiments.sweeps.report import write_sweep_report
from gancompress.experiments.sweeps.structured import MAC_TARGETS, ROWS, check_rows
from gancompress.experiments.sweeps.sweep import (
    CONTROL,
    PROFILE_KEYS,
    PROFILES,
    Point,
    Sweep,
    nm_for,
    worker_init,
    worker_point,
    worker_teacher,
)
from gancompress.experiments.tasks import TABLE2_SPARSITIES, get_task, paper_ratios, select_tasks
from gancompress.files import read_json
from gancompress.pruning.allocation import check_fixed
from gancompress.pruning.granularity import make_granularity
from gancompress.rundir import RunDir, env_info

log = logging.getLogger(__name__)

GRANULARITIES = ("element", "vector", "kernel", "nm", "filter")
LATENCY_KINDS = ("granularity", "structured")
#: structured: what a deployment would pick from — eager and ONNX Runtime, 1 and 2 threads, batch 1 and 16
STRUCTURED_TIMING: dict[str, Any] = {"backends": ("eager", "onnx"), "threads": (1, 2)}
SPARSITIES = (0.25, 0.5, 0.75, 0.9)
DEFAULT_TASKS = {"table2": None, "granularity": ["dcgan", "pix2pix"], "structured": ["dcgan", "pix2pix"]}
TITLES = {
    "table2": "Table 2 reproduction (element sparsity)",
    "granularity": "Granularity study",
    "structured": "Structured (channel) compression at MAC targets",
}


def _floats(text: str | None, default: tuple[float, ...]) -> list[float]:
    if not text:
        return list(default)
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--sparsities expects comma-separated numbers in (0, 1), got {text!r}") from None
    if not values or any(not 0.0 < v < 1.0 for v in values):
        raise UserError(f"--sparsities expects comma-separated numbers in (0, 1), got {text!r}")
    return values


def _teachers(text: str | None) -> dict[str, str]:
    """``task=DIR[,task=DIR]`` → {task: DIR}, every DIR a trained run."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise UserError(f"--teacher for {part!r}: sweeps take task=RUN_DIR pairs, e.g. --teacher dcgan=runs/t")
        task, path = (s.strip() for s in part.split("=", 1))
        get_task(task)
        if not (Path(path) / "generator.safetensors").is_file():
            raise UserError(f"--teacher {task}={path}: no trained generator there (generator.safetensors)")
        out[task] = path
    return out


def plan_points(kind: str, opts: ReproduceSettings, seeds: list[int]) -> tuple[list[str], list[list[Any]]]:
    """(tasks, [[granularity, sparsity], …]) of a sweep."""
    names = opts.tasks.split(",") if opts.tasks else DEFAULT_TASKS[kind]
    tasks = [t.name for t in select_tasks(names)]
    if kind == "table2":
        points = [["element", s] for s in _floats(opts.sparsities, TABLE2_SPARSITIES[1:])]
        return tasks, points + ([] if opts.no_control else [[CONTROL, 0.0]])
    if kind == "structured":  # (row, MAC target): structured.py
        rows = [r.strip() for r in opts.rows.split(",")] if opts.rows else list(ROWS)
        check_rows(rows)
        points = [[r, t] for t in _floats(opts.mac_targets, MAC_TARGETS) for r in rows]
        return tasks, points + ([] if opts.no_control else [[CONTROL, 0.0]])
    grans = [g.strip() for g in opts.granularities.split(",")] if opts.granularities else list(GRANULARITIES)
    points: list[list[Any]] = []
    for s in _floats(opts.sparsities, SPARSITIES):
        for g in grans:
            if g in ("nm", "n:m"):  # N:M has a fixed sparsity: the N:4 pattern with exactly s zeros, if one exists
                pattern = nm_for(s)
                if pattern is not None:
                    points.append([pattern, s])
                continue
            points.append([make_granularity(g).name, s])
    return tasks, points


def _check_overrides(tasks: list[str], points: list[list[Any]], overrides: list[str], opts: ReproduceSettings) -> None:
    """Bad ``--set`` keys / values, or a prune policy a planned granularity refuses, fail before anything runs."""
    for name in tasks:
        cfg = override(get_task(name).run_config(opts.profile, dry_run=opts.run.dry_run), overrides)
        for granularity, _ in points:
            if granularity == CONTROL or granularity in ROWS:
                continue
            check_fixed(make_granularity(granularity), cfg.prune.scope, cfg.prune.layer_sparsity)


def run_sweep(kind: str, opts: ReproduceSettings) -> tuple[dict[str, Any], Path, Path]:
    """Run (or ``--resume``) a ``table2`` / ``granularity`` sweep into ``opts.out``; (results, report.md, .html)."""
    ro = opts.run
    out = (
        Path(opts.out)
        if opts.out
        else Path(tempfile.mkdtemp(prefix="gancompress-dry-") if ro.dry_run else f"runs/{kind}")
    )
    jobs = 1 if opts.jobs is None else int(opts.jobs)
    if jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    given = _teachers(opts.teacher)  # validated before anything is written
    resume = bool(opts.resume and (out / "results.json").is_file())
    if resume:
        results = read_json(out / "results.json")
        if results.get("kind") != kind:
            raise UserError(f"{out}/results.json is not a reproduce {kind} result; use another --out")
    else:
        profile = pick(PROFILES, opts.profile).record(*PROFILE_KEYS)
        if opts.budget_fraction is not None:
            profile["budget_fraction"] = opts.budget_fraction
        if ro.num_samples:
            profile["num_samples"] = ro.num_samples
        seeds = list(range(ro.seed or 0, (ro.seed or 0) + (opts.seeds or profile["seeds"])))
        tasks, points = plan_points(kind, opts, seeds)
        overrides = list(ro.overrides)
        if ro.dry_run:  # synthetic data (each task's dry_data), a few steps, tiny widths: checks the wiring
            profile["dry_run"] = True
            overrides += ["train.steps=4", "eval.num_samples=64", "model.ngf=8", "model.ndf=8"]
        _check_overrides(tasks, points, overrides, opts)
        results = {
            "kind": kind,
            "title": TITLES[kind],
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "profile": profile,
            "plan": {
                "tasks": tasks, "points": points, "seeds": seeds, "overrides": overrides,
                "device": ro.device or "cpu", "filter_importance": opts.filter_importance,
                "latency": kind in LATENCY_KINDS and not opts.no_latency,
            },
            "env": env_info(seeds[0], ro.device or "cpu"),
            "tasks": {},
        }  # fmt: skip
    plan = results["plan"]
    if resume and kind == "table2" and not opts.no_control and [CONTROL, 0.0] not in plan["points"]:
        plan["points"].append([CONTROL, 0.0])  # a run from before the control column gains it (--no-control: not)
        log.info("adding the same-budget dense control to the plan")
    # latency is measured after training: a resumed run may add it later, on a quieter machine (--no-latency first)
    plan["latency"] = kind in LATENCY_KINDS and not opts.no_latency
    for name in plan["tasks"]:
        t = get_task(name)
        results["tasks"].setdefault(name, {
            "title": t.title, "family": t.config["model"]["family"], "paper": list(t.paper), "paired": t.paired,
            "paper_ratios": {str(s): r for s, r in paper_ratios(name).items()}, "cells": {},
        })  # fmt: skip
    run = RunDir(out, resume=opts.resume, overwrite=opts.overwrite)
    sweep = Sweep(results, run.path)
    results["timing"]["jobs"] = jobs
    _teacher_phase(sweep, given, jobs)
    todo = [
        Point(name, g, float(s), seed)
        for seed in plan["seeds"] for g, s in plan["points"] for name in plan["tasks"]
        if Point(name, g, float(s), seed).key not in results["tasks"][name]["cells"]
    ]  # fmt: skip
    log.info("%d cells to run", len(todo))

    def done(p: Point, rec: dict[str, Any], cpu: float) -> None:
        results["tasks"][p.task]["cells"][p.key] = rec
        sweep.cpu_workers += cpu
        sweep.save()
        log.info("%s %s: FID %.3f", p.task, p.key, rec["metrics"]["fid"])

    if jobs == 1:
        for i, p in enumerate(todo, 1):
            log.info("[%d/%d] %s %s", i, len(todo), p.task, p.key)
            done(p, sweep.run_point(p), 0.0)
    else:
        init_args = (results, str(run.path))
        run_pool(todo, jobs, init=worker_init, init_args=init_args, work=worker_point, on_done=done,
                 describe=lambda p: f"{p.task} {p.key}")  # fmt: skip
    if plan.get("latency"):
        for name in plan["tasks"]:
            if not results.get("latency", {}).get(name):
                how = STRUCTURED_TIMING if kind == "structured" else {}
                results.setdefault("latency", {})[name] = measure_latency(
                    sweep, name, rounds=opts.latency_rounds, **how
                )
                sweep.save()
    sweep.save()
    md, html = write_sweep_report(results, run.path)
    run.close()
    return results, md, html


def given_by_key(given: dict[str, str], keys: list[str]) -> dict[str, str]:
    """``--teacher`` pairs (per task name) → {teacher key: DIR} for the planned teacher ``keys``.

    The tasks of one key share a teacher (CycleGAN's two directions), so ``cyclegan_tops_a2b=DIR`` also serves a plan
    holding only ``cyclegan_tops_b2a`` — rather than silently training a second teacher. A pair no planned task uses
    is reported, not dropped in silence.
    """
    out: dict[str, str] = {}
    for name, path in given.items():
        key = get_task(name).key
        if key not in keys:
            log.warning("--teacher %s=%s ignored: no planned task uses that teacher", name, path)
        elif out.setdefault(key, path) != path:
            raise UserError(f"--teacher gives two runs for the teacher shared by {key} tasks: {out[key]} and {path}")
    return out


def _teacher_phase(sweep: Sweep, given: dict[str, str], jobs: int) -> None:
    """Train (or take) one teacher per teacher key, score it for every task that uses it."""
    results, tasks = sweep.results, sweep.results["plan"]["tasks"]
    by_key: dict[str, list[str]] = {}
    for name in tasks:
        by_key.setdefault(get_task(name).key, []).append(name)
    by_given = given_by_key(given, list(by_key))
    todo = [(names[0], by_given.get(key)) for key, names in by_key.items()
            if not results["tasks"][names[0]].get("teacher")]  # fmt: skip

    def done(item: tuple[str, str | None], rec: dict[str, Any], cpu: float) -> None:
        results["tasks"][item[0]]["teacher"] = rec
        sweep.cpu_workers += cpu
        sweep.save()
        log.info("teacher of %s: FID %.3f", item[0], rec["metrics"]["fid"])

    if jobs == 1 or len(todo) < 2:
        for item in todo:
            done(item, sweep.train_teacher(*item), 0.0)
    else:
        run_pool(todo, jobs, init=worker_init, init_args=(results, str(sweep.out)), work=worker_teacher, on_done=done,
                 describe=lambda it: f"teacher of {it[0]}")  # fmt: skip
    for names in by_key.values():  # tasks sharing a teacher (CycleGAN's other direction): same weights, own score
        first = results["tasks"][names[0]]["teacher"]
        for name in names[1:]:
            if not results["tasks"][name].get("teacher"):
                sweep.state(name).load_teacher(Path(first["path"]))
                shared = {k: first[k] for k in ("path", "steps", "train_seconds")}
                results["tasks"][name]["teacher"] = {**shared, "source": f"shared with {names[0]}",
                                                     **sweep.score_teacher(name)}  # fmt: skip
                sweep.save()


__all__ = ["GRANULARITIES", "SPARSITIES", "given_by_key", "plan_points", "run_sweep"]
