"""``gancompress reproduce table1``: every Table 1 row (docs/method.md §4) × seeds through the one loop, one evaluator.

One teacher G_O (trained here, or given with ``--teacher``), then each (method, seed) cell runs through
:func:`gancompress.api.compress` — rows from G_O with the compression budget (the profile's
``budget_fraction`` × the teacher's steps), rows from random init (a, c, c′, f, j) with the teacher's full budget
(each method's ``budget`` attribute; ``api.compression_budget``) — and is scored by one :class:`Evaluator` against the
held-out split. ``results.json`` is rewritten after every cell (a crash loses at most that cell); ``--resume`` skips
finished cells. The report (``report.md`` / ``report.html``) is rendered from it by
:mod:`gancompress.experiments.table1.report`.

Example:
    $ gancompress reproduce table1 --family dcgan --sparsity 0.5 --profile quick --out runs/table1-quick
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancompress.api import compress, compression_budget, gan_info, load_gan, save, train_teacher
from gancompress.config import RunCfg, TrainCfg, from_dict, to_dict
from gancompress.data import load_dataset
from gancompress.errors import UserError
from gancompress.evaluate import Evaluator
from gancompress.experiments.cellpool import run_pool
from gancompress.experiments.demo import CURVE_KEYS
from gancompress.experiments.known_bad import known_bad
from gancompress.experiments.settings import ReproduceSettings
from gancompress.experiments.table1.config import PROFILES, budget_fractions, table1_config
from gancompress.experiments.table1.report import write_table1_report
from gancompress.experiments.table1.results import CONTROL_VARIANT, cell_done, find_row, new_row, refresh, row_name
from gancompress.experiments.table1.rows import TABLE1_BY_METHOD, select_rows
from gancompress.experiments.variants import VARIANTS, apply_variant, check_variants, variant_method
from gancompress.families import GanLoss, get_family
from gancompress.files import read_json, write_json
from gancompress.methods import METHODS, create_method
from gancompress.report.imagegrid import sample_grid
from gancompress.rundir import RunDir, env_info

log = logging.getLogger(__name__)

#: Class-coverage readings per training run for the collapse monitor (each scores 500 samples).
COVERAGE_READINGS = 4


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One (row, seed) unit of work; ``budget``: the compression budget (fraction of the teacher's steps) of a row
    from G_O, ``None`` for rows from random init (the teacher's full budget)."""

    name: str
    method: str
    variant: str | None
    seed: int
    budget: float | None = None


def plan_cells(
    methods: list[str], variants: list[str], seeds: list[int], control: bool, budgets: list[float] | None = None
) -> list[Cell]:
    """Seed-major order (every row once before any row's second seed), so a partial run covers the whole table.

    Rows from G_O (method ``budget == "compress"``, variants, the control) run once per compression budget in
    ``budgets`` — named ``<row>@10%`` when there are several — and rows from random init once, at the full budget.
    """
    rows = [(m, None) for m in methods] + [(variant_method(v), v) for v in variants]
    if control and CONTROL_VARIANT not in variants:
        rows.append((variant_method(CONTROL_VARIANT), CONTROL_VARIANT))
    fractions: list[float | None] = list(budgets) if budgets else [None]
    cells = []
    for s in seeds:
        for m, v in rows:
            full = METHODS.get(m).budget == "full" and v is None
            for b in [None] if full else fractions:
                name = row_name(m, v, b if len(fractions) > 1 else None)
                cells.append(Cell(name=name, method=m, variant=v, seed=s, budget=b))
    return cells


def _describe(method: str, variant: str | None) -> str:
    if variant == CONTROL_VARIANT:
        return "control: the dense teacher trained on for the same budget, plain GAN loss (docs/method.md §7)"
    if variant is not None:
        m_chg, p_chg, t_chg = VARIANTS[variant]
        changes = ", ".join(f"{k}={v}" for k, v in {**m_chg, **p_chg, **t_chg}.items() if k != "name") or "none"
        return f"variant {variant!r} of {method} (changes: {changes}); not a paper row"
    r = TABLE1_BY_METHOD[method]
    return f"G_C: {r.g_init}; D: {r.d}; loss on G_C: {r.loss}"


def _curves(history: list[dict[str, float]]) -> dict[str, list[list[float]]]:
    return {k: [[h["step"], h[k]] for h in history if k in h] for k in CURVE_KEYS if any(k in h for h in history)}


def _history(run_path: Path) -> list[dict[str, float]]:
    """Training rows of a run's metrics.jsonl (``eval/*`` rows dropped) — for a teacher given with ``--teacher``."""
    import json

    path = run_path / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if not any(k.startswith("eval/") for k in r)]


class Table1Job:
    """State of one ``reproduce table1`` run: data, evaluator, teacher, and the results dict being filled."""

    def __init__(self, cfg: RunCfg, profile: dict[str, Any], out: Path, results: dict[str, Any]) -> None:
        self.cfg, self.profile, self.out, self.results = cfg, profile, out, results
        self.t_start = time.perf_counter()
        self.c_start = time.process_time()
        self.wall_before = float(results.get("timing", {}).get("wall_seconds", 0.0))  # earlier sessions (--resume)
        self.cpu_before = float(results.get("timing", {}).get("cpu_seconds", 0.0))
        self.cpu_workers = 0.0  # CPU seconds of cells run in --jobs worker processes
        self.train_data = load_dataset(cfg.data, "train")
        # the held-out split scored: test (reported once) or val (where options are chosen, docs/method.md §7)
        self.test_data = load_dataset(cfg.data, cfg.eval.split)
        log.info("data: %s (%d train / %d test images)", cfg.data.name, len(self.train_data), len(self.test_data))
        t0 = time.perf_counter()
        self.evaluator = Evaluator(
            self.train_data, self.test_data, extractor=cfg.eval.extractor, num_samples=cfg.eval.num_samples,
            device=cfg.device,
        )  # fmt: skip
        results.setdefault("timing", {})["evaluator_seconds"] = round(time.perf_counter() - t0, 1)
        self.g_orig: nn.Module | None = None
        self.d_orig: nn.Module | None = None
        self.loss: GanLoss | None = None

    # ------------------------------------------------------------------------------------------ bookkeeping
    def save(self) -> None:
        timing = self.results["timing"]
        timing["wall_seconds"] = round(self.wall_before + time.perf_counter() - self.t_start, 1)
        cpu = self.cpu_before + self.cpu_workers + time.process_time() - self.c_start
        timing["cpu_seconds"] = round(cpu, 1)
        timing["threads"] = torch.get_num_threads()
        timing["loadavg_1min"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # other jobs on the box
        write_json(self.out / "results.json", refresh(self.results))  # atomic: tmp file, then rename

    def _make_loss(self) -> GanLoss:
        loss = get_family(self.cfg.model.family).make_loss(self.g_orig, self.d_orig)
        if hasattr(loss, "bind_eval_data"):  # conditional families draw grid / eval inputs from held-out data
            loss.bind_eval_data(self.test_data)
        return loss

    def _evaluate(self, g: nn.Module, *, is_teacher: bool) -> dict[str, Any]:
        # DECISION: one fixed sampling seed (the run's) for every score, so a row's spread is its training-seed spread
        teacher = None if is_teacher else self.g_orig
        return self.evaluator.evaluate(g, self.loss, teacher=teacher, seed=self.cfg.seed, metrics=self.cfg.eval.metrics)

    def _train_cfg(self, steps: int | None) -> TrainCfg:
        eval_every = max(1, steps // COVERAGE_READINGS) if steps else 0
        return replace(self.cfg.train, steps=steps, eval_every=eval_every)

    # ------------------------------------------------------------------------------------------ teacher
    def teacher(self, teacher_dir: str | None) -> None:
        """Train G_O (or load ``teacher_dir``) and score it — once; a resumed run reloads the saved teacher."""
        done = self.results.get("teacher", {})
        if done.get("metrics"):
            path = Path(done["path"])
            self.g_orig, self.d_orig = load_gan(path, self.cfg.device)
            self.loss = self._make_loss()
            log.info("resume: teacher reloaded from %s", path)
            return
        t0, c0 = time.perf_counter(), time.process_time()
        if teacher_dir:
            path = Path(teacher_dir).resolve()
            self.g_orig, self.d_orig = load_gan(path, self.cfg.device)
            if self.d_orig is None:
                raise UserError(f"{path} has no discriminator.*; reproduce table1 needs D_O (most rows use it)")
            steps = gan_info(path).get("steps") or self.cfg.train.steps
            history, alarms, train_seconds, source = _history(path), [], None, "given"
        else:
            run = RunDir(self.out / "teacher", overwrite=True)
            write_json(run.path / "config.json", to_dict(self.cfg))
            cfg = replace(self.cfg, train=self._train_cfg(self.cfg.train.steps))
            self.g_orig, self.d_orig, res = train_teacher(cfg, self.train_data, run=run, evaluator=self.evaluator)
            run.close()
            path, steps, source = run.path.resolve(), res.steps, "trained"
            history, alarms, train_seconds = res.history, sorted({a["kind"] for a in res.alarms}), res.seconds
        self.loss = self._make_loss()
        metrics = self._evaluate(self.g_orig, is_teacher=True)
        sample_grid(self.g_orig, self.loss, self.out / "samples" / "teacher.png", self.cfg.device)
        self.results["sanity"] = self.sanity()
        self.results["teacher"] = {
            "path": str(path),
            "source": source,
            "steps": int(steps),
            "seed": self.cfg.seed,
            "train_seconds": None if train_seconds is None else round(train_seconds, 1),
            "seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1),
            "metrics": metrics,
            "curves": _curves(history),
            "alarms": alarms,
            "samples": "samples/teacher.png",
        }
        self.results["profile"]["teacher_steps"] = int(steps)  # a given teacher's own count, not the profile's
        self.results["timing"]["teacher_seconds"] = self.results["teacher"]["seconds"]
        self.save()

    def sanity(self) -> dict[str, Any]:
        """Known-bad generators (known_bad.py) scored by the same evaluator: the report shows each verdict, which
        must flag them all (results.refresh recomputes the verdicts)."""
        x = self.loss.sample_input(2, torch.Generator().manual_seed(0), self.cfg.device)
        with torch.no_grad():
            shape = tuple(self.g_orig.eval()(*x).shape[1:])
        out = {}
        for name, g in known_bad(self.train_data, shape, tuple(x[0].shape[1:])).items():
            out[name] = {"metrics": self._evaluate(g.to(self.cfg.device), is_teacher=True)}
        return out

    # ------------------------------------------------------------------------------------------ cells
    def add_row(self, cell: Cell) -> dict[str, Any]:
        """The results row of ``cell`` (created, in plan order, the first time)."""
        row = find_row(self.results, cell.name)
        if row is None:
            budget = METHODS.get(cell.method).budget if cell.variant is None else "compress"
            suffix = len(self.results["plan"].get("budgets") or []) > 1
            desc = _describe(cell.method, cell.variant)
            if cell.budget is not None:
                desc += f"; budget {cell.budget:.0%} of the teacher's steps"
            row = new_row(
                cell.method, cell.variant, budget=budget, description=desc, fraction=cell.budget, suffix=suffix
            )
            self.results["models"].append(row)
        return row

    def run_cell(self, cell: Cell) -> None:
        """Train (or reuse, for row a's first seed), score and record one (row, seed) cell, then save results."""
        self.record(cell, self.train_cell(cell))

    def record(self, cell: Cell, rec: dict[str, Any], *, worker_cpu: float = 0.0) -> None:
        """Store one finished cell and rewrite results.json; ``worker_cpu``: CPU seconds spent in a --jobs worker."""
        self.add_row(cell)["cells"][str(cell.seed)] = rec
        self.cpu_workers += worker_cpu
        self.save()
        log.info("%s seed %d: FID %.3f in %.0f s", cell.name, cell.seed, rec["metrics"]["fid"], rec["seconds"])

    def train_cell(self, cell: Cell) -> dict[str, Any]:
        """Train (or reuse) and score one cell; returns its record (reads ``results``, never writes it)."""
        t0, c0, cfg, teacher = time.perf_counter(), time.process_time(), self.cfg, self.results["teacher"]
        rel = Path("cells") / cell.name / f"seed{cell.seed}"
        first_seed = cell.seed == self.results["plan"]["seeds"][0]
        if cell.method == "dense" and cell.variant is None and first_seed:
            # DECISION: row a's first seed IS G_O (the teacher every other row starts from); further seeds train
            # another teacher with that seed and the same (full) budget through the same train_teacher.
            g, steps, train_seconds = self.g_orig, teacher["steps"], teacher.get("train_seconds")
            curves, alarms, is_teacher, rel = teacher["curves"], teacher["alarms"], True, Path(teacher["path"])
        else:
            run = RunDir(self.out / rel, overwrite=True)  # a cell interrupted mid-way restarts from scratch
            write_json(run.path / "config.json", to_dict(cfg))
            if cell.method == "dense" and cell.variant is None:
                tcfg = replace(cfg, seed=cell.seed, train=self._train_cfg(teacher["steps"]))
                g, _, res = train_teacher(tcfg, self.train_data, run=run, evaluator=self.evaluator)
            else:
                method, prune, train = cfg.method, cfg.prune, self._train_cfg(None)
                method = replace(method, name=cell.method)
                if cell.budget is not None:  # this row's compression budget (a variant may still change it)
                    train = replace(train, budget_fraction=cell.budget)
                if cell.variant is not None:
                    method, prune, train = apply_variant(cell.variant, cfg.method, prune, train)
                steps = compression_budget(
                    create_method(method), train, teacher["steps"]
                )  # a (full) or compression budget
                train = replace(train, eval_every=max(1, steps // COVERAGE_READINGS))
                result = compress(
                    self.g_orig, self.d_orig, self.train_data, family=cfg.model.family, method=method, prune=prune,
                    train=train, teacher_steps=teacher["steps"], run=run, seed=cell.seed, device=cfg.device,
                    evaluator=self.evaluator, name=cell.name,
                )  # fmt: skip
                save(result, run.path, family=cfg.model.family)
                write_json(
                    run.path / "compress.json", {**read_json(run.path / "compress.json"), "teacher": teacher["path"]}
                )
                g, res = result.generator, result.train
            run.close()
            steps, train_seconds = res.steps, round(res.seconds, 1)
            curves, alarms, is_teacher = _curves(res.history), sorted({a["kind"] for a in res.alarms}), False
        if is_teacher:  # already scored with the same evaluator and sampling seed
            metrics, samples = teacher["metrics"], teacher["samples"]
        else:
            metrics, samples = self._evaluate(g, is_teacher=False), f"samples/{cell.name}_s{cell.seed}.png"
            sample_grid(g, self.loss, self.out / samples, cfg.device)
        # row a's first seed cost the teacher's training
        extra, extra_cpu = (teacher["seconds"], teacher.get("cpu_seconds") or 0.0) if is_teacher else (0.0, 0.0)
        return {
            "seed": cell.seed,
            "metrics": metrics,
            "steps": int(steps),
            "train_seconds": train_seconds,
            "seconds": round(time.perf_counter() - t0 + extra, 1),
            # CPU seconds of this process (all its threads): what the cell costs without other jobs on the machine
            "cpu_seconds": round(time.process_time() - c0 + extra_cpu, 1),
            "curves": curves,
            "alarms": alarms,
            "samples": samples,
            "run": str(rel),
        }


_WORKER_JOB: Table1Job | None = None  # a --jobs worker process's own job (cellpool)


def _worker_init(cfg: RunCfg, profile: dict[str, Any], out: str, results: dict[str, Any]) -> None:
    global _WORKER_JOB
    _WORKER_JOB = Table1Job(cfg, profile, Path(out), results)
    _WORKER_JOB.teacher(None)  # already trained and scored: reloaded from results["teacher"]


def _worker_cell(cell: Cell) -> dict[str, Any]:
    assert _WORKER_JOB is not None, "worker not initialised"
    return _WORKER_JOB.train_cell(cell)


def _label(cell: Cell) -> str:
    return f"{cell.name} seed {cell.seed}"


def run_table1(opts: ReproduceSettings) -> tuple[dict[str, Any], Path, Path]:
    """Run (or ``--resume``) the whole table into ``opts.out``; returns (results, report.md, report.html)."""
    if opts.out:
        out = Path(opts.out)
    else:  # like every command: --dry-run without --out writes to a fresh temporary directory
        out = Path(tempfile.mkdtemp(prefix="gancompress-dry-")) if opts.run.dry_run else Path("runs/table1")
    resume = bool(opts.resume and (out / "results.json").is_file())
    if resume:
        results = read_json(out / "results.json")
        if results.get("kind") != "table1":
            raise UserError(f"{out}/results.json is not a reproduce table1 result; use another --out")
        cfg = from_dict(RunCfg, {k: v for k, v in results["config"].items() if k in RunCfg.__dataclass_fields__})
        profile = results["profile"]
        log.info("resume: the run keeps its own config (%s profile); finished cells are skipped", profile["name"])
    else:
        cfg, profile = table1_config(opts)
    plan = dict(results["plan"]) if resume else {}
    rows = select_rows(opts.methods.split(",") if opts.methods else plan.get("methods"))
    variants = check_variants(opts.variants.split(",")) if opts.variants else plan.get("variants", [])
    n_seeds = opts.seeds or (len(plan["seeds"]) if resume else profile["seeds"])
    if n_seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {n_seeds}")
    if opts.jobs is not None and opts.jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {opts.jobs}")
    budgets = budget_fractions(opts) or plan.get("budgets") or profile.get("budget_fractions")
    if budgets is None:  # a run written before budgets were planned: its single budget
        budgets = [profile.get("budget_fraction", cfg.train.budget_fraction)]
    plan = {
        "methods": [r.method for r in rows],
        "variants": variants,
        "seeds": [cfg.seed + i for i in range(n_seeds)],
        "control": not opts.no_control,
        "budgets": [float(b) for b in budgets],
    }
    run = RunDir(out, resume=opts.resume, overwrite=opts.overwrite)
    if not resume:
        run.write_json("config.json", {**to_dict(cfg), "profile": profile})
        run.write_json("env.json", env_info(cfg.seed, cfg.device))
        results = {
            "kind": "table1",
            "title": f"Table 1 reproduction — {cfg.model.family} on {cfg.data.name}, "
            f"{cfg.prune.sparsity:.0%} {cfg.prune.granularity} sparsity ({profile['name']} profile)",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "config": to_dict(cfg),
            "profile": profile,
            "env": env_info(cfg.seed, cfg.device),
            "dry_run": opts.run.dry_run,  # reports then draw no conclusions (protocol.DRY_RUN_NOTE)
            "models": [],
        }
    results["plan"] = plan
    job = Table1Job(cfg, profile, run.path, results)
    results["evaluator"] = job.evaluator.info
    job.teacher(opts.teacher)
    cells = plan_cells(plan["methods"], variants, plan["seeds"], plan["control"], plan["budgets"])
    todo = [c for c in cells if not cell_done(results, c.name, c.seed)]
    log.info("%d cells planned, %d to run (%d finished)", len(cells), len(todo), len(cells) - len(todo))
    for cell in cells:  # rows in plan order, whichever cell finishes first
        job.add_row(cell)
    jobs = max(1, int(opts.jobs or 1))
    results["timing"]["jobs"] = jobs
    if jobs == 1:
        for i, cell in enumerate(todo, 1):
            log.info("[%d/%d] %s seed %d", i, len(todo), cell.name, cell.seed)
            job.run_cell(cell)
    else:

        def done(cell: Cell, rec: dict[str, Any], cpu: float) -> None:
            job.record(cell, rec, worker_cpu=cpu)

        init_args = (cfg, profile, str(run.path), results)
        run_pool(todo, jobs, init=_worker_init, init_args=init_args, work=_worker_cell, on_done=done, describe=_label)
    job.save()
    md, html = write_table1_report(results, run.path)
    run.close()
    return results, md, html


__all__ = ["PROFILES", "Cell", "Table1Job", "plan_cells", "run_table1", "table1_config"]
