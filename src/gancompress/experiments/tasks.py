"""The Table 2 tasks: each paper task's CPU analogue (docs/method.md §6) as a teacher config + the paper's numbers.

A task is one translation/synthesis problem a family is trained on: its run config (data, widths, optimiser, samples
per score and the full-profile teacher length, read from ``configs/<family>_teacher.toml`` — the files users train
with, package data in ``experiments/configs/``; the ``wide`` profile's widths and length from the file's
``[profile.wide]`` table, docs/reproduce.md "Wide teachers"), its teacher length per profile and
the paper's Table 2 rows it stands for (docs/method.md §5; FID at 0 / 25 / 50 / 75 / 90 % element sparsity). CycleGAN is
one teacher with two generators, compressed one direction at a time: two tasks sharing a teacher.

Example:
    >>> sorted(TASKS)[:3]
    ['cyclegan_a2b', 'cyclegan_b2a', 'cyclegan_tops_a2b']
    >>> round(paper_ratios("dcgan")[0.5][0], 3)
    1.005
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gancompress.config import RunCfg, apply_dict, with_profile
from gancompress.errors import UserError

#: docs/method.md §5, Table 2: FID at 0, 25, 50, 75, 90 % element sparsity.
PAPER_TABLE2: dict[str, tuple[float, float, float, float, float]] = {
    "DCGAN MNIST": (50.391, 50.128, 50.634, 50.805, 51.356),
    "pix2pix Sat→Map": (17.636, 17.897, 17.990, 20.235, 24.892),
    "pix2pix Map→Sat": (30.826, 30.628, 30.720, 34.051, 38.936),
    "CycleGAN Monet→Photo": (63.152, 63.410, 63.662, 66.394, 70.933),
    "CycleGAN Photo→Monet": (31.987, 32.102, 32.346, 33.913, 41.409),
    "CycleGAN Zebra→Horse": (60.930, 61.005, 61.102, 65.898, 68.450),
    "CycleGAN Horse→Zebra": (52.862, 52.631, 52.688, 58.356, 63.274),
    "StarGAN CelebA": (6.113, 6.307, 6.929, 6.714, 7.144),
    "SRGAN DIV2K": (14.653, 15.236, 16.609, 17.548, 18.376),
}
TABLE2_SPARSITIES = (0.0, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True, kw_only=True)
class Task:
    """One Table 2 analogue.

    Attributes:
        name: task id (``--tasks``).
        title: what it translates, for reports.
        config: run-config overrides (nested dict, as in a TOML file) on top of ``RunCfg()``.
        steps: teacher steps per profile (``quick``, ``full``, ``wide``).
        profile_configs: the config of a profile that changes more than the length (``wide``: the widths), used
            instead of ``config`` for that profile.
        paper: the PAPER_TABLE2 rows this task stands for.
        teacher_key: tasks with the same key share one trained teacher (CycleGAN's two directions).
        paired: outputs have a ground truth (PSNR / SSIM are reported).
        dry_data: data overrides for ``--dry-run`` (a synthetic stand-in that needs no dataset files).
    """

    name: str
    title: str
    config: dict[str, Any]
    steps: dict[str, int]
    paper: tuple[str, ...]
    teacher_key: str = ""
    paired: bool = False
    dry_data: dict[str, Any] = field(default_factory=lambda: {"name": "fake"})
    profile_configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run_config(self, profile: str, *, dry_run: bool = False) -> RunCfg:
        """The resolved teacher config of this task for ``profile`` (teacher steps set; ``dry_run``: synthetic data)."""
        if profile not in self.steps:
            raise UserError(f"task {self.name} has no {profile!r} profile; valid: {', '.join(self.steps)}")
        cfg = apply_dict(RunCfg(), self.profile_configs.get(profile, self.config))
        if dry_run:
            cfg = apply_dict(cfg, {"data": {"limit": None, **self.dry_data}})
        return replace(cfg, train=replace(cfg.train, steps=self.steps[profile]))

    @property
    def key(self) -> str:
        return self.teacher_key or self.name


#: DECISION (docs/method.md §7): every reproduction task holds out 10 % of its training split as ``val``, so a run
#: that chooses options (``--set eval.split=val``) and the run that reports them on ``test`` train the same teachers.
VAL_FRACTION = 0.1

#: the teacher configs (``configs/<family>_teacher.toml``): package data, so an installed package finds them too
CONFIGS = Path(__file__).with_name("configs")
#: what a task takes from its teacher config's [train]: the optimiser (the length per profile is the task's ``steps``;
#: logging, sampling and checkpoint intervals are set by each reproduction)
TRAIN_KEYS = ("batch_size", "lr_g", "lr_d", "beta1", "beta2")


#: the profiles a teacher config's ``[profile.<name>]`` table defines (docs/config.md "Profiles")
FILE_PROFILES = ("wide",)


def _read(family: str, profile: str | None) -> dict[str, Any]:
    path = CONFIGS / f"{family}_teacher.toml"
    return with_profile(tomllib.loads(path.read_text()), profile, where=f"config {path.name}")


def teacher_config(family: str, profile: str | None = None) -> dict[str, Any]:
    """The task config in ``configs/<family>_teacher.toml``: its [data], [model] and [eval], [train]'s optimiser
    (``profile``: with the file's ``[profile.<profile>]`` table applied).

    Example:
        >>> teacher_config("srgan")["train"]
        {'batch_size': 16, 'lr_g': 0.0005, 'lr_d': 0.0002, 'beta1': 0.9}
        >>> teacher_config("pix2pix", "wide")["model"]["ngf"]
        32
    """
    raw = _read(family, profile)
    train = {k: raw["train"][k] for k in TRAIN_KEYS if k in raw.get("train", {})}
    return {**{k: raw[k] for k in ("data", "model", "eval") if k in raw}, "train": train}


def teacher_steps(family: str, profile: str | None = None) -> int:
    """The teacher length in ``configs/<family>_teacher.toml`` (the ``full`` profile's; ``profile``: that
    profile's table's)."""
    return int(_read(family, profile)["train"]["steps"])


def _task(family: str, *, quick: int, data: dict[str, Any] | None = None, **kwargs: Any) -> Task:
    """A task whose config is ``configs/<family>_teacher.toml`` (``data``: keys changed for this task)."""
    configs = {name: teacher_config(family, None if name == "full" else name) for name in ("full", *FILE_PROFILES)}
    for config in configs.values():
        config["data"] = {**config["data"], **(data or {})}
    steps = {"quick": quick, **{name: teacher_steps(family, None if name == "full" else name) for name in configs}}
    by_profile = {name: configs[name] for name in FILE_PROFILES}
    return Task(config=configs["full"], steps=steps, profile_configs=by_profile, **kwargs)


#: the two unpaired pairs (docs/method.md §6: "sneaker ↔ ankle boot (and one more pair)"), as the paper has two CycleGAN
#: datasets: a shape change (low-top → high-top shoe) and a detail change (T-shirt/top → shirt: collar, buttons,
#: long sleeves). Task names: ``cyclegan<suffix>_<direction>``; both directions share one teacher.
_CYCLE_PAIRS: dict[str, tuple[tuple[int, int], tuple[str, str]]] = {
    "": ((7, 9), ("sneaker", "ankle boot")),
    "_tops": ((0, 6), ("T-shirt/top", "shirt")),
}


def _cycle_task(pair: str, direction: str) -> Task:
    """CycleGAN, one direction of a pair's shared two-generator teacher (docs/method.md §5 lists four CycleGAN rows)."""
    classes, (a, b) = _CYCLE_PAIRS[pair]
    what = f"{a} → {b}" if direction == "a2b" else f"{b} → {a}"
    return _task(
        "cyclegan",
        quick=500,
        data={"classes": list(classes), "direction": direction},
        name=f"cyclegan{pair}_{direction}",
        title=f"CycleGAN {what} (unpaired), Fashion-MNIST 32 px",
        paper=("CycleGAN Monet→Photo", "CycleGAN Photo→Monet", "CycleGAN Zebra→Horse", "CycleGAN Horse→Zebra"),
        teacher_key=f"cyclegan{pair}",
        dry_data={"name": "fake_unpaired", "classes": [2, 7], "direction": direction},
    )


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        _task("dcgan", quick=600, name="dcgan", title="DCGAN synthesis, Fashion-MNIST 32 px", paper=("DCGAN MNIST",)),
        _task(
            "pix2pix",
            quick=500,
            name="pix2pix",
            title="pix2pix edges → item, Fashion-MNIST 32 px",
            paper=("pix2pix Sat→Map", "pix2pix Map→Sat"),
            paired=True,
            dry_data={"name": "fake_edges"},
        ),
        *(_cycle_task(pair, direction) for pair in _CYCLE_PAIRS for direction in ("a2b", "b2a")),
        _task(
            "stargan",
            quick=800,
            name="stargan",
            title="StarGAN among sandal / sneaker / ankle boot, Fashion-MNIST 32 px",
            paper=("StarGAN CelebA",),
            dry_data={"name": "fake", "classes": [0, 1, 2]},
        ),
        _task(
            "srgan",
            quick=300,
            name="srgan",
            title="SRGAN 4× super-resolution 16 → 64 px, scikit-image photo tiles",
            paper=("SRGAN DIV2K",),
            paired=True,
            dry_data={"name": "fake_sr"},
        ),
    )
}


def get_task(name: str) -> Task:
    """The task ``name`` (UserError listing the valid names)."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[name]


def select_tasks(names: list[str] | None) -> list[Task]:
    """Tasks by name (default: all), duplicates removed, in TASKS order."""
    if not names:
        return list(TASKS.values())
    wanted = [n.strip() for n in names if n.strip()]
    for n in wanted:
        get_task(n)
    return [t for t in TASKS.values() if t.name in wanted]


def task_for_family(family: str) -> Task:
    """The first task of ``family`` (CycleGAN: A → B), e.g. for ``reproduce table1 --family stargan``."""
    for task in TASKS.values():
        if task.config["model"]["family"] == family:
            return task
    families = sorted({t.config["model"]["family"] for t in TASKS.values()})
    raise UserError(f"no reproduction task for family {family!r}; valid families: {', '.join(families)}")


def paper_ratios(task: str) -> dict[float, list[float]]:
    """Per sparsity, the paper's FID ratio to dense of every Table 2 row this task stands for."""
    rows = [PAPER_TABLE2[p] for p in get_task(task).paper]
    return {s: [row[i] / row[0] for row in rows] for i, s in enumerate(TABLE2_SPARSITIES)}


__all__ = [
    "CONFIGS",
    "FILE_PROFILES",
    "PAPER_TABLE2",
    "TABLE2_SPARSITIES",
    "TASKS",
    "Task",
    "get_task",
    "paper_ratios",
    "select_tasks",
    "task_for_family",
    "teacher_config",
    "teacher_steps",
]
