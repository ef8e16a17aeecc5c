"""What ``benchmark`` and ``export`` share: a run's generator as saved, its sample inputs, a dense reference and the
physically pruned copy (each compared numerically with the masked model).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancompress.config import ModelCfg, RunCfg
from gancompress.errors import UserError
from gancompress.families import get_family
from gancompress.families.user import USER_ARCH, build_user_model, is_user_run, load_saved
from gancompress.files import read_json
from gancompress.models import create_model
from gancompress.pruning.physical import remove_pruned_channels
from gancompress.rundir import run_config

log = logging.getLogger("gancompress")


def load_run(
    run: str | Path, model: str | None = None
) -> tuple[nn.Module, Callable[[int], tuple[torch.Tensor, ...]], dict[str, Any]]:
    """(generator as saved, ``batch -> sample inputs``, info) for a run directory (``model``: ``--model`` spec)."""
    run = Path(run)
    if not (run / "generator.json").is_file():
        raise UserError(f"{run} is not a gancompress run directory (no generator.json / generator.safetensors)")
    g = load_saved(run, "generator", model).eval()  # a user architecture needs --model (clear error otherwise)
    meta = read_json(run / "generator.json")
    compress = read_json(run / "compress.json") if (run / "compress.json").is_file() else {}
    if model or is_user_run(run):
        loss = build_user_model(model).loss  # the factory's GanLoss draws the generator inputs
        family = "user"
    else:
        family = meta.get("family") or (run_config(run).model.family if (run / "config.json").exists() else None)
        if not family:
            raise UserError(f"{run}: the GAN family is unknown (no 'family' in generator.json, no config.json)")
        # a CycleGAN teacher holds two generators: trace / export the one of the run's data.direction (select)
        cfg = run_config(run) if (run / "config.json").exists() else RunCfg(model=ModelCfg(family=family))
        g, _, loss = get_family(family).select(g, None, cfg)

    def make_inputs(n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
        return tuple(loss.sample_input(n, torch.Generator().manual_seed(seed), "cpu"))

    return g, make_inputs, {"family": family, "teacher": compress.get("teacher"), "model": model, "loss": loss}


def fresh_dense(g: nn.Module, model: str | None) -> nn.Module:
    """A new dense module of ``g``'s architecture (no masks): from its arch spec, or the user's factory."""
    spec = getattr(g, "arch_spec", None)
    if isinstance(spec, dict) and spec.get("arch") not in (None, USER_ARCH):
        return create_model(spec["arch"], **spec.get("kwargs", {})).eval()
    if not model:
        raise UserError("this generator was built by a user factory: pass --model FILE.py:FACTORY")
    return build_user_model(model).generator.eval()


def physical_copy(
    g: nn.Module, make_inputs: Callable[[int], tuple[torch.Tensor, ...]]
) -> tuple[nn.Module, dict[str, Any], float]:
    """(physically pruned copy, removal report, max abs diff vs ``g`` on 8 sample inputs)."""
    small, report = remove_pruned_channels(g, make_inputs(2))
    small.eval()
    if not report.get("removed"):
        skipped = report.get("skipped") or {}
        if skipped:  # filters were pruned, but every coupling that held them could not be shrunk: say why
            first = next(iter(skipped.items()))
            log.warning("no channel was removed: %d pruned layer(s) skipped, e.g. %s: %s", len(skipped), *first)
        else:
            log.warning("no whole filter is pruned, so no channel was removed; prune with --granularity filter")
    return small, report, max_diff(g, small, make_inputs(8))


def max_diff(a: nn.Module, b: nn.Module, inputs: tuple[torch.Tensor, ...]) -> float:
    with torch.no_grad():
        return float((a(*inputs) - b(*inputs)).abs().max())
