"""Shared set-up of the sweep scripts: one teacher run, its data, one evaluator and the family's loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

import gancompress as gc
from gancompress.api import gan_info
from gancompress.config import RunCfg
from gancompress.data import ImageDataset
from gancompress.evaluate import Evaluator
from gancompress.families import GanLoss
from gancompress.rundir import run_config


@dataclass
class Teacher:
    cfg: RunCfg
    train: ImageDataset
    evaluator: Evaluator
    g: nn.Module
    d: nn.Module | None
    info: dict[str, Any]
    loss: GanLoss


def open_teacher(path: str, num_samples: int, split: str = "test") -> Teacher:
    """The teacher in run dir ``path`` with an evaluator over its data's held-out ``split`` (``num_samples`` per
    score; ``val`` where thresholds and options are chosen)."""
    cfg = run_config(path)
    train, test = gc.load_dataset(cfg.data, "train"), gc.load_dataset(cfg.data, split)
    g, d = gc.load_gan(path)
    loss = gc.get_family(cfg.model.family).make_loss(g, d)
    return Teacher(cfg, train, Evaluator(train, test, num_samples=num_samples), g, d, gan_info(path), loss)
