"""Sweeps of self_supervised compression over tasks × granularities × sparsities (``reproduce table2|granularity``).

Per task (tasks.py: a family on its offline dataset) one teacher is trained — or given with ``--teacher task=DIR`` —
and scored; then every (granularity, sparsity, seed) point compresses it with the paper's method (Eq. 7–9, AGP, the
pretrained D) through :func:`gancompress.api.compress`, and the result is scored by that task's evaluator and
saved. ``results.json`` is rewritten after every cell (``--resume`` skips finished ones), cells can run in worker
processes (``--jobs``), and for the granularity study the saved generators are timed afterwards in one process,
interleaved (:mod:`gancompress.export.latency`): filter-pruned ones physically shrunk, the others as masked dense
modules — what a CPU actually runs.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancompress.api import compress, gan_info, load_gan, save, train_teacher
from gancompress.config import RunCfg, override, to_dict
from gancompress.data import load_dataset
from gancompress.evaluate import Evaluator
from gancompress.experiments.profile import Profile
from gancompress.experiments.sweeps.structured import macs_record, round_to_for, row_settings
from gancompress.experiments.table1.results import CONTROL_VARIANT
from gancompress.experiments.tasks import Task, get_task
from gancompress.experiments.variants import apply_variant
from gancompress.families import GanLoss, get_family
from gancompress.files import read_json, write_json
from gancompress.pruning.granularity import incompatible_layers
from gancompress.report.imagegrid import sample_grid
from gancompress.rundir import RunDir

log = logging.getLogger(__name__)

PROFILES = {
    # quick: every task's teacher shortened (tasks.py ``steps["quick"]``), 1 seed, 1,000 samples per score.
    "quick": Profile("quick", budget_fractions=(0.2,), num_samples=1000, seeds=1),
    # full: the teacher configs' own length; a longer compression budget (the filter study,
    # docs/results.md "Smaller and faster": 50 % of the teacher's steps is what recovers structured pruning).
    "full": Profile("full", budget_fractions=(0.5,), num_samples=2000, seeds=1),
    # wide: full's budgets on the wide teachers (each task's [profile.wide]: ngf 32, trained to convergence;
    # docs/reproduce.md "Wide teachers") — what the channel-compression study compresses.
    "wide": Profile("wide", budget_fractions=(0.5,), num_samples=2000, seeds=1),
}
#: what results.json records of the profile (teacher steps: each task's own, tasks.py)
PROFILE_KEYS = ("name", "budget_fraction", "num_samples", "seeds")


@dataclass(frozen=True)
class Point:
    """One compression cell: a task at a granularity and sparsity, one training seed."""

    task: str
    granularity: str
    sparsity: float
    seed: int

    @property
    def key(self) -> str:
        return f"{self.granularity}@{self.sparsity:g}/s{self.seed}"


#: The same-budget dense control of a task (docs/method.md §7): the teacher trained on, unpruned, with its plain GAN
#: loss for the compression budget — how far one snapshot of an oscillating GAN is from its own continuation.
CONTROL = "control"


def nm_for(sparsity: float, m: int = 4) -> str | None:
    """The N:M pattern (M = 4) with exactly ``sparsity`` zeros, or ``None`` (e.g. 90 % has no N:4 pattern)."""
    n = (1.0 - sparsity) * m
    return f"nm:{round(n)}:{m}" if abs(n - round(n)) < 1e-9 and 1 <= round(n) < m else None


class TaskState:
    """A task's config, data, evaluator and teacher in one process (built lazily, reused by its cells)."""

    def __init__(self, task: Task, profile: dict[str, Any], overrides: list[str], device: str) -> None:
        cfg = task.run_config(profile["name"], dry_run=bool(profile.get("dry_run")))
        cfg = replace(cfg, eval=replace(cfg.eval, num_samples=min(cfg.eval.num_samples, profile["num_samples"])))
        cfg = replace(cfg, train=replace(cfg.train, log_every=25, sample_every=0, ckpt_every=0))
        self.cfg: RunCfg = replace(override(cfg, overrides), device=device)
        self.task = task
        self.train_data = load_dataset(self.cfg.data, "train")
        self.test_data = load_dataset(self.cfg.data, self.cfg.eval.split)  # test, or val to choose options
        self.evaluator = Evaluator(
            self.train_data, self.test_data, extractor=self.cfg.eval.extractor,
            num_samples=self.cfg.eval.num_samples, device=device,
        )  # fmt: skip
        self.g_orig: nn.Module | None = None
        self.d_orig: nn.Module | None = None

    def view(self) -> tuple[nn.Module, nn.Module | None, GanLoss]:
        """(G, D, loss) this task compresses: the family's ``select`` (CycleGAN: one direction), a fresh loss."""
        assert self.g_orig is not None, "teacher not loaded"
        g, d, loss = get_family(self.cfg.model.family).select(self.g_orig, self.d_orig, self.cfg)
        loss.bind_eval_data(self.test_data)
        return g, d, loss

    def load_teacher(self, path: Path) -> None:
        self.g_orig, self.d_orig = load_gan(path, self.cfg.device)


class Sweep:
    """State of one sweep run: plan, results dict, per-task states (this process), bookkeeping."""

    def __init__(self, results: dict[str, Any], out: Path) -> None:
        self.results, self.out = results, out
        self.profile = results["profile"]
        self.states: dict[str, TaskState] = {}
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        timing = results.setdefault("timing", {})
        self.wall_before, self.cpu_before = timing.get("wall_seconds", 0.0), timing.get("cpu_seconds", 0.0)
        self.cpu_workers = 0.0

    def state(self, name: str) -> TaskState:
        if name not in self.states:
            plan = self.results["plan"]
            self.states[name] = TaskState(get_task(name), self.profile, plan["overrides"], plan["device"])
            teacher = self.results["tasks"].get(name, {}).get("teacher") or {}
            if teacher.get("path"):
                self.states[name].load_teacher(Path(teacher["path"]))
        return self.states[name]

    def save(self) -> None:
        timing = self.results["timing"]
        timing["wall_seconds"] = round(self.wall_before + time.perf_counter() - self.t0, 1)
        timing["cpu_seconds"] = round(self.cpu_before + self.cpu_workers + time.process_time() - self.c0, 1)
        timing["loadavg_1min"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        write_json(self.out / "results.json", self.results)  # atomic

    # ------------------------------------------------------------------------------------------ teachers
    def train_teacher(self, name: str, given: str | None) -> dict[str, Any]:
        """Train (or load ``given``) the teacher of task ``name`` and score it; returns its record."""
        t0, c0 = time.perf_counter(), time.process_time()
        st = self.state(name)
        if given:
            path, source, seconds = Path(given).resolve(), "given", None
            st.load_teacher(path)
            steps = int(gan_info(path).get("steps") or st.cfg.train.steps or 0)
            if self.profile.get("dry_run") and st.cfg.train.steps:  # a wiring check: budgets from its few steps
                steps = min(steps, int(st.cfg.train.steps))
        else:
            run = RunDir(self.out / "teachers" / st.task.key, overwrite=True)
            write_json(run.path / "config.json", to_dict(st.cfg))
            st.g_orig, st.d_orig, res = train_teacher(st.cfg, st.train_data, run=run)
            run.close()
            path, source, seconds, steps = run.path.resolve(), "trained", round(res.seconds, 1), res.steps
        return {"path": str(path), "source": source, "steps": steps, "train_seconds": seconds,
                **self._score(name, None, "teacher"), "seconds": round(time.perf_counter() - t0, 1),
                "cpu_seconds": round(time.process_time() - c0, 1)}  # fmt: skip

    def score_teacher(self, name: str) -> dict[str, Any]:
        """Score an already trained teacher for another task sharing it (CycleGAN's second direction)."""
        t0 = time.perf_counter()
        return {**self._score(name, None, "teacher"), "seconds": round(time.perf_counter() - t0, 1)}

    def _score(self, name: str, g: nn.Module | None, label: str) -> dict[str, Any]:
        st = self.state(name)
        g_dense, _, loss = st.view()
        target = g_dense if g is None else g
        teacher = None if g is None else g_dense
        metrics = st.evaluator.evaluate(target, loss, teacher=teacher, seed=st.cfg.seed, metrics=st.cfg.eval.metrics)
        samples = f"samples/{name}_{label}.png"
        sample_grid(target, loss, self.out / samples, st.cfg.device, n=32)
        return {"metrics": metrics, "samples": samples}

    # ------------------------------------------------------------------------------------------ cells
    def run_point(self, p: Point) -> dict[str, Any]:
        """Compress the task's teacher at point ``p`` with self_supervised, save and score it; returns its record."""
        t0, c0 = time.perf_counter(), time.process_time()
        st = self.state(p.task)
        g, d, loss = st.view()
        teacher = self.results["tasks"][p.task]["teacher"]
        control = p.granularity == CONTROL  # Table 1's "continued" row: row d's strategy at 0 % sparsity (variants.py)
        structured = self.results["kind"] == "structured" and not control  # a row at a MAC target (structured.py)
        granularity = "element" if control else "channel" if structured else p.granularity
        importance = self.results["plan"]["filter_importance"] if granularity == "filter" else st.cfg.prune.importance
        # N:M cannot prune a layer whose input channels are not a multiple of M (a 1-channel first conv): dense
        keep = tuple(incompatible_layers(g, granularity))
        if keep:
            log.info("%s %s: %s kept dense (incompatible with %s)", p.task, p.key, ", ".join(keep), granularity)
        # the run's prune / method settings (``--set prune.scope=global``, ``--set method.anchor=1``) with this
        # point's granularity and sparsity; the method is Eq. 9's self_supervised, the control Table 1's variant
        prune = replace(
            st.cfg.prune, granularity=granularity, sparsity=p.sparsity, importance=importance,
            exclude=tuple(st.cfg.prune.exclude) + keep,
        )  # fmt: skip
        train = replace(st.cfg.train, steps=None, budget_fraction=self.profile["budget_fraction"], log_every=50)
        method = replace(st.cfg.method, name="self_supervised")
        if control:
            method, prune, train = apply_variant(CONTROL_VARIANT, method, prune, train)
        elif structured:
            method, prune, row_train = row_settings(
                st.cfg, p.granularity, p.sparsity, round_to=round_to_for(g), overrides=self.results["plan"]["overrides"]
            )
            train = replace(train, ema=row_train.ema)  # the recipe's EMA (structured.py RECIPE)
            prune = replace(prune, exclude=tuple(prune.exclude) + keep)
        slug = p.key.replace("/", "_").replace(":", "-")
        rel = Path("cells") / p.task / slug
        run = RunDir(self.out / rel, overwrite=True)
        write_json(run.path / "config.json", to_dict(replace(st.cfg, prune=prune, method=method, train=train)))
        result = compress(
            g, d, st.train_data, family=st.cfg.model.family, loss=loss, method=method, prune=prune, train=train,
            teacher_steps=teacher["steps"], run=run, seed=p.seed, device=st.cfg.device,
            name=f"{p.task}_{slug}",  # a control cell is logged as one, not as self_supervised
        )  # fmt: skip
        save(result, run.path, family=st.cfg.model.family)
        # as `compress` does: benchmark / export / evaluate find the cell's teacher (dense reference) from here
        write_json(run.path / "compress.json", {**read_json(run.path / "compress.json"), "teacher": teacher["path"]})
        run.close()
        scored = self._score(p.task, result.generator, slug)
        extra: dict[str, Any] = {}
        if self.results["kind"] == "structured":
            example = tuple(loss.sample_input(2, torch.Generator().manual_seed(0), st.cfg.device))
            pruned_by = "channel" if structured and method.name != "same_widths_scratch" else "none"
            extra = {"prune_granularity": pruned_by, "method": method.name, "channel_ratio": prune.sparsity,
                     **macs_record(g, result.generator, result.masks, example)}  # fmt: skip
        return {
            **extra,
            "task": p.task, "granularity": p.granularity, "sparsity": p.sparsity, "seed": p.seed,
            "achieved_sparsity": round(result.masks.overall_sparsity(), 4) if result.masks is not None else 0.0,
            "steps": result.train.steps, "train_seconds": round(result.train.seconds, 1), "run": str(rel), **scored,
            "seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1),
        }  # fmt: skip


# ---------------------------------------------------------------------------------------------- worker processes
_WORKER: Sweep | None = None


def worker_init(results: dict[str, Any], out: str) -> None:
    global _WORKER
    _WORKER = Sweep(results, Path(out))


def worker_teacher(item: tuple[str, str | None]) -> dict[str, Any]:
    assert _WORKER is not None
    return _WORKER.train_teacher(*item)


def worker_point(p: Point) -> dict[str, Any]:
    assert _WORKER is not None
    return _WORKER.run_point(p)


__all__ = ["PROFILES", "PROFILE_KEYS", "Point", "Sweep", "TaskState", "nm_for"]
