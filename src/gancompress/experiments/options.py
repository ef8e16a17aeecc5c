"""The run config a command's options ask for, checked against every registry before anything runs.

Options are a :class:`RunOptions` (what the experiments are given), an ``argparse.Namespace`` (the CLI) or any object
with the same attributes; the CLI and the experiments resolve their configs through :func:`resolve_config`, so a name
that does not exist (dataset, family, method, granularity, schedule, importance) fails the same way everywhere,
listing the valid values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from gancompress.config import RunCfg, load_config, override
from gancompress.data import DATASETS
from gancompress.errors import UserError
from gancompress.families import FAMILIES
from gancompress.families.user import USER_FAMILY
from gancompress.methods import METHODS
from gancompress.pruning import SCHEDULES, check_importance, make_granularity

#: convenience options (``--sparsity`` …) → config keys; everything else via ``--set key=value``
FLAG_KEYS = {
    "data": "data.name",
    "data_dir": "data.data_dir",
    "family": "model.family",
    "steps": "train.steps",
    "batch_size": "train.batch_size",
    "sparsity": "prune.sparsity",
    "granularity": "prune.granularity",
    "schedule": "prune.schedule",
    "importance": "prune.importance",
    "round_to": "prune.round_to",
    "target_macs": "prune.target_macs",
    "target_speedup": "prune.target_speedup",
    "method": "method.name",
    "num_samples": "eval.num_samples",
    "extractor": "eval.extractor",
}
#: what ``dry_run`` changes: 2 steps on fake data, tiny widths and evaluation (checks the wiring)
DRY_RUN = (
    "data.name=fake",
    "data.data_dir=None",
    "train.steps=2",
    "train.log_every=1",
    "train.batch_size=16",
    "eval.num_samples=64",
    "model.ngf=8",
    "model.ndf=8",
    "model.nz=16",
)


@dataclass(frozen=True)
class RunOptions:
    """The options :func:`resolve_config` reads, typed: a config file (``config_profile``: also its
    ``[profile.<name>]`` table, docs/config.md "Profiles"), the convenience options (:data:`FLAG_KEYS`),
    ``--set`` overrides, seed, device and ``dry_run``. ``None`` leaves the config's value.

    Example:
        >>> RunOptions(sparsity=0.75, overrides=["train.steps=10"]).overrides
        ('train.steps=10',)
    """

    config: str | None = None
    config_profile: str | None = None
    data: str | None = None
    data_dir: str | None = None
    family: str | None = None
    steps: int | None = None
    batch_size: int | None = None
    sparsity: float | None = None
    granularity: str | None = None
    schedule: str | None = None
    importance: str | None = None
    round_to: int | None = None
    target_macs: float | None = None
    target_speedup: float | None = None
    method: str | None = None
    num_samples: int | None = None
    extractor: str | None = None
    overrides: tuple[str, ...] = ()
    seed: int | None = None
    device: str | None = None
    dry_run: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", tuple(self.overrides or ()))
        object.__setattr__(self, "dry_run", bool(self.dry_run))

    @classmethod
    def of(cls, options: Any) -> RunOptions:
        """The run options of any object with these attributes (missing ones: the defaults)."""
        return cls(
            **{f.name: getattr(options, f.name) for f in fields(cls) if getattr(options, f.name, None) is not None}
        )


def resolve_config(options: Any, base: RunCfg | None = None) -> RunCfg:
    """The validated run config a command's options ask for (a :class:`RunOptions`, an ``argparse.Namespace`` or any
    object with its attributes): defaults ← ``config`` file ← convenience options (:data:`FLAG_KEYS`) ←
    ``overrides`` (``--set``) ← ``seed`` / ``device``; ``dry_run`` shrinks everything (:data:`DRY_RUN`). Then
    :func:`validate`.

    Example:
        >>> import argparse
        >>> resolve_config(argparse.Namespace(sparsity=0.75, overrides=["train.steps=10"])).prune.sparsity
        0.75
    """
    profile = getattr(options, "config_profile", None)  # `train --profile wide`: the file's [profile.wide] table
    if profile and not getattr(options, "config", None):
        raise UserError(
            f"--profile {profile} applies a config file's [profile.{profile}] table: pass --config FILE too"
        )
    cfg = load_config(options.config, base, profile=profile) if getattr(options, "config", None) else (base or RunCfg())
    flags = [
        f"{key}={getattr(options, name)}" for name, key in FLAG_KEYS.items() if getattr(options, name, None) is not None
    ]
    cfg = override(cfg, flags + list(getattr(options, "overrides", [])))
    if getattr(options, "seed", None) is not None:
        cfg = replace(cfg, seed=options.seed)
    if getattr(options, "device", None):
        cfg = replace(cfg, device=options.device)
    if getattr(options, "dry_run", False):
        cfg = override(cfg, list(DRY_RUN))
    check_device(cfg.device)
    validate(cfg)
    return cfg


def validate(cfg: RunCfg) -> None:
    """Fail on unknown names before anything is written (each lookup lists the valid values)."""
    DATASETS.get(cfg.data.name)
    if cfg.model.family != USER_FAMILY:  # a --model run: the user's factory, checked when it is built
        FAMILIES.get(cfg.model.family)
    METHODS.get(cfg.method.name)
    granularity = make_granularity(cfg.prune.granularity)
    SCHEDULES.get(cfg.prune.schedule)
    check_importance(cfg.prune.importance, granularity.name)


def check_device(device: str) -> None:
    """``UserError`` for a device this machine cannot use (CUDA absent) or does not know."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise UserError(f"unknown device {device!r}; use cpu, cuda or cuda:N")
