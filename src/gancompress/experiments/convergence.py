"""Train a teacher until it is converged: the same-budget dense control no longer improves its FID by 5 % or more.

A GAN teacher that is still improving makes every compression result look better or worse than it is (the control
of docs/method.md §7). The test, per round: train the teacher (the task's config at a profile, ``wide`` by default),
score it on the validation split, train the same-budget dense control — the teacher continued with its own GAN loss
for 20 % of its steps (Table 1's ``continued`` variant, :mod:`gancompress.experiments.variants`) — and score that.
If the controls — ``control_seeds`` of them (default 3), since one control snapshot of a GAN swings by ±30 %
(docs/results.md "The study at the wide profile") — improve FID by less than 5 % on average, the teacher is
converged; otherwise the teacher is resumed from its last checkpoint for more steps and the test is repeated. Every
round is written to a JSON file as it finishes, and a re-run continues from the rounds already recorded
(docs/reproduce.md "Wide teachers").

Example:
    >>> converged(teacher_fid=10.0, control_fid=9.6), converged(teacher_fid=10.0, control_fid=9.4)
    (True, False)
    >>> rounds = converge(lambda steps: None, lambda steps: (10.0, 9.0 if steps < 150 else 9.8), steps=100, extend=50)
    >>> [(r["steps"], r["converged"]) for r in rounds]
    [(100, False), (150, True)]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from torch import nn

from gancompress.api import compress, load_gan, save, train_teacher
from gancompress.config import RunCfg, override, to_dict
from gancompress.data import load_dataset
from gancompress.evaluate import Evaluator
from gancompress.experiments.table1.results import CONTROL_VARIANT
from gancompress.experiments.tasks import Task, task_for_family
from gancompress.experiments.variants import apply_variant
from gancompress.families import get_family
from gancompress.files import read_json, write_json
from gancompress.metrics.summary import summarize
from gancompress.rundir import RunDir, env_info, latest_checkpoint

log = logging.getLogger(__name__)

#: converged when the control improves FID by less than this share of the teacher's FID
THRESHOLD = 0.05
#: the control's budget: this share of the teacher's steps (the budget Table 1 and the demo report beside 10 %)
CONTROL_FRACTION = 0.2
#: controls per round (seeds seed, seed+1, …); the decision uses their mean FID
CONTROL_SEEDS = 3
#: a continuation round adds this share of the profile's teacher length
EXTEND_FRACTION = 0.5
METRICS = ("fid", "kid")


def improvement(teacher_fid: float, control_fid: float) -> float:
    """How much the control improves FID, as a share of the teacher's FID (negative: the control is worse)."""
    return (teacher_fid - control_fid) / teacher_fid


def converged(teacher_fid: float, control_fid: float, threshold: float = THRESHOLD) -> bool:
    """The teacher counts as converged when its same-budget control improves FID by less than ``threshold``."""
    return improvement(teacher_fid, control_fid) < threshold


def ratio_interval(teacher_fid: float, control_fids: Sequence[float]) -> tuple[float, float] | None:
    """The 95 % interval of the controls' mean FID ÷ the teacher's (Student t over the controls; ``None`` for < 2).

    With a GAN's control-to-control spread this interval is often wider than the 5 % the decision tests, and then
    the decision is made by noise (docs/results.md "An EMA teacher")."""
    if len(control_fids) < 2:
        return None
    s = summarize([float(f) for f in control_fids])
    return (s["mean"] - s["ci95"]) / teacher_fid, (s["mean"] + s["ci95"]) / teacher_fid


def converge(
    train_to: Callable[[int], Any],
    score: Callable[[int], tuple[float, float] | dict[str, Any]],
    *,
    steps: int,
    extend: int,
    max_rounds: int = 4,
    threshold: float = THRESHOLD,
    rounds: Sequence[dict[str, Any]] = (),
    on_round: Callable[[list[dict[str, Any]]], Any] | None = None,
) -> list[dict[str, Any]]:
    """Rounds of train → score → decide until converged or ``max_rounds`` rounds in all.

    Args:
        train_to: trains (or resumes) the teacher to this total step count.
        score: ``(teacher FID, control FID)`` at that step count, or a dict with ``teacher_fid`` and
            ``control_fid`` (and anything else to record).
        steps: the first round's teacher length; each further round adds ``extend`` steps.
        rounds: rounds already recorded (a re-run continues after them; none is repeated).
        on_round: called with all rounds after each one (to write them out).

    Returns:
        every round: ``steps``, ``teacher_fid``, ``control_fid``, ``ratio`` (control ÷ teacher), ``improvement``,
        ``converged`` and what ``score`` returned besides; when ``score`` gives ``control_fids`` (≥ 2), also
        ``ratio_ci95`` (the ratio's 95 % interval) and ``resolved`` (the interval lies on one side of
        ``1 - threshold``, so the decision is not made by the controls' noise).
    """
    if extend < 1 or steps < 1:
        raise ValueError(f"steps and extend must be positive, got {steps}, {extend}")
    out = [dict(r) for r in rounds]
    while len(out) < max_rounds and not (out and out[-1]["converged"]):
        total = out[-1]["steps"] + extend if out else steps
        train_to(total)
        scored = score(total)
        if not isinstance(scored, dict):
            scored = {"teacher_fid": scored[0], "control_fid": scored[1]}
        t_fid, c_fid = float(scored["teacher_fid"]), float(scored["control_fid"])
        record = {
            **scored,
            "round": len(out) + 1,
            "steps": total,
            "teacher_fid": t_fid,
            "control_fid": c_fid,
            "ratio": c_fid / t_fid,
            "improvement": improvement(t_fid, c_fid),
            "converged": converged(t_fid, c_fid, threshold),
        }
        interval = ratio_interval(t_fid, scored.get("control_fids", ()))
        if interval is not None:
            record["ratio_ci95"] = [round(v, 4) for v in interval]
            record["resolved"] = not interval[0] < 1 - threshold < interval[1]
            if not record["resolved"]:
                log.warning(
                    "round %d: the controls' ratio lies in [%.3f, %.3f] (95 %%), across the %.3f line: this "
                    "decision is made by the controls' noise; more control seeds would settle it",
                    len(out) + 1, *interval, 1 - threshold,
                )  # fmt: skip
        out.append(record)
        log.info(
            "round %d: teacher %d steps FID %.3f, control FID %.3f (ratio %.3f): %s",
            record["round"], total, t_fid, c_fid, record["ratio"],
            "converged" if record["converged"] else f"control improves ≥ {threshold:.0%}, continue",
        )  # fmt: skip
        if on_round is not None:
            on_round(out)
    return out


def checkpoint_step(path: Path | None) -> int:
    """The step of a ``checkpoints/step_N`` directory (0 for none)."""
    return int(path.name.split("_")[1]) if path is not None else 0


class TeacherConvergence:
    """One family's teacher (its task at ``profile``), trained in ``out/teacher`` and tested in ``out/control_N``.

    Scores use the validation split (``eval.split=val``; every task holds out ``data.val_fraction``), so the test
    split stays unseen by this choice.
    """

    def __init__(
        self,
        family: str,
        out: str | Path,
        *,
        profile: str = "wide",
        overrides: Sequence[str] = (),
        control_fraction: float = CONTROL_FRACTION,
        control_seeds: int = CONTROL_SEEDS,
        device: str = "cpu",
    ) -> None:
        if control_seeds < 1:
            raise ValueError(f"control_seeds must be >= 1, got {control_seeds}")
        self.task: Task = task_for_family(family)
        self.profile = profile
        cfg = self.task.run_config(profile)
        ckpt_every = max(1, cfg.train.steps // 4)
        cfg = override(cfg, [f"train.ckpt_every={ckpt_every}", "train.log_every=50", "train.sample_every=0"])
        self.cfg: RunCfg = replace(override(cfg, ["eval.split=val", *overrides]), device=device)
        self.control_fraction = control_fraction
        self.control_seeds = control_seeds
        self.out = Path(out)
        self.teacher_dir = self.out / "teacher"
        self.train_data = load_dataset(self.cfg.data, "train")
        self.val_data = load_dataset(self.cfg.data, self.cfg.eval.split)
        log.info("%s: %d train / %d %s images", self.task.name, len(self.train_data), len(self.val_data),
                 self.cfg.eval.split)  # fmt: skip
        self.evaluator = Evaluator(
            self.train_data, self.val_data, extractor=self.cfg.eval.extractor,
            num_samples=self.cfg.eval.num_samples, device=device,
        )  # fmt: skip
        self.g: nn.Module | None = None
        self.d: nn.Module | None = None
        self.train_seconds = 0.0

    @property
    def steps(self) -> int:
        """The profile's teacher length: the first round's."""
        return int(self.cfg.train.steps or 0)

    def train_to(self, total: int) -> None:
        """Train the teacher to ``total`` steps: from scratch, or resumed from its latest checkpoint."""
        ckpt = latest_checkpoint(self.teacher_dir) if self.teacher_dir.is_dir() else None
        cfg = replace(self.cfg, train=replace(self.cfg.train, steps=total))
        if checkpoint_step(ckpt) >= total and (self.teacher_dir / "generator.safetensors").is_file():
            info = read_json(self.teacher_dir / "generator.json")
            if int(info.get("steps", 0)) == total:
                log.info("teacher already trained to %d steps: %s", total, self.teacher_dir)
                self.g, self.d = load_gan(self.teacher_dir, cfg.device)
                self.train_seconds = 0.0
                return
        run = RunDir(self.teacher_dir, resume=True)
        run.write_json("config.json", to_dict(cfg))  # the teacher's config (its length so far), for --teacher
        if ckpt is None:
            run.write_json("env.json", env_info(cfg.seed, cfg.device))
        log.info("teacher %s: %d → %d steps", self.task.name, checkpoint_step(ckpt), total)
        self.g, self.d, result = train_teacher(cfg, self.train_data, run=run, resume_from=ckpt,
                                               evaluator=self.evaluator)  # fmt: skip
        run.close()
        self.train_seconds = result.seconds

    def score(self, total: int) -> dict[str, Any]:
        """Score the teacher, train its same-budget dense controls (one per seed) and score them (validation split).

        ``control_fid`` is the controls' mean; each control's FID, run and seconds are recorded too."""
        assert self.g is not None, "train_to first"
        family = get_family(self.cfg.model.family)
        g, d, loss = family.select(self.g, self.d, self.cfg)  # CycleGAN: data.direction's generator
        loss.bind_eval_data(self.val_data)
        t0 = time.perf_counter()
        teacher = self.evaluator.evaluate(g, loss, seed=self.cfg.seed, metrics=METRICS)
        controls = [self._control(total, g, d, loss, i) for i in range(self.control_seeds)]
        fids, kids = [c["fid"] for c in controls], [c["kid"] for c in controls]
        train_seconds = sum(c["seconds"] for c in controls)
        return {
            "teacher_fid": teacher["fid"],
            "control_fid": sum(fids) / len(fids),
            "control_fids": fids,
            "control_seeds": [c["seed"] for c in controls],
            "teacher_kid": teacher.get("kid"),
            "control_kid": None if None in kids else sum(kids) / len(kids),
            "control_steps": controls[0]["steps"],
            "train_seconds": round(self.train_seconds, 1),
            "control_seconds": round(train_seconds, 1),
            "score_seconds": round(time.perf_counter() - t0 - train_seconds, 1),
            "control_run": controls[0]["run"],
            "control_runs": [c["run"] for c in controls],
        }

    def _control(self, total: int, g: nn.Module, d: nn.Module | None, loss: Any, index: int) -> dict[str, Any]:
        """The ``index``-th same-budget dense control (seed ``cfg.seed + index``), trained, saved and scored."""
        seed = self.cfg.seed + index
        method, prune, train = apply_variant(CONTROL_VARIANT, self.cfg.method, self.cfg.prune, self.cfg.train)
        train = replace(train, steps=None, budget_fraction=self.control_fraction, ckpt_every=0)
        name = f"control_{total}" if index == 0 else f"control_{total}_s{seed}"  # seed 0's name predates seeds
        run = RunDir(self.out / name, overwrite=True)
        cfg = replace(self.cfg, method=method, prune=prune, train=train, seed=seed)
        write_json(run.path / "config.json", to_dict(cfg))
        result = compress(
            g, d, self.train_data, family=self.cfg.model.family, loss=loss, method=method, prune=prune, train=train,
            teacher_steps=total, run=run, seed=seed, device=self.cfg.device, name=name,
        )  # fmt: skip
        save(result, run.path, family=self.cfg.model.family)
        run.close()
        scored = self.evaluator.evaluate(result.generator, loss, seed=self.cfg.seed, metrics=METRICS)
        assert result.train is not None
        log.info("%s: FID %.3f", name, scored["fid"])
        return {"seed": seed, "fid": scored["fid"], "kid": scored.get("kid"), "steps": result.train.steps,
                "seconds": result.train.seconds, "run": str(run.path)}  # fmt: skip

    def record(self, rounds: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
        """What the results JSON holds: the setup and every round."""
        return {
            "kind": "teacher_convergence",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "family": self.cfg.model.family,
            "task": self.task.name,
            "profile": self.profile,
            "split": self.cfg.eval.split,
            "num_samples": self.cfg.eval.num_samples,
            "threshold": threshold,
            "control_fraction": self.control_fraction,
            "control_seeds": self.control_seeds,
            "model": to_dict(self.cfg.model),
            "teacher_run": str(self.teacher_dir.resolve()),
            "rounds": rounds,
            "converged": bool(rounds and rounds[-1]["converged"]),
            "final_steps": rounds[-1]["steps"] if rounds else 0,
        }


def run_convergence(
    job: TeacherConvergence,
    results: str | Path,
    *,
    extend: int | None = None,
    max_rounds: int = 4,
    threshold: float = THRESHOLD,
) -> dict[str, Any]:
    """Run :func:`converge` for ``job``, writing ``results`` (JSON) after every round; continues its rounds."""
    path = Path(results)
    done = read_json(path).get("rounds", []) if path.is_file() else []
    extend = extend or max(1, round(EXTEND_FRACTION * job.steps))
    rounds = converge(
        job.train_to, job.score, steps=job.steps, extend=extend, max_rounds=max_rounds, threshold=threshold,
        rounds=done, on_round=lambda rs: write_json(path, job.record(rs, threshold)),
    )  # fmt: skip
    record = job.record(rounds, threshold)
    write_json(path, record)
    return record


__all__ = [
    "CONTROL_FRACTION",
    "CONTROL_SEEDS",
    "EXTEND_FRACTION",
    "THRESHOLD",
    "TeacherConvergence",
    "checkpoint_step",
    "converge",
    "converged",
    "improvement",
    "ratio_interval",
    "run_convergence",
]
