"""Table 1 row c — ``same_widths_scratch``: at channel granularity, the channel-pruned architecture from scratch.

Row c asks whether the pruned weights matter or only the smaller architecture does (docs/method.md §4). With channel
pruning the architecture is exactly known: the widths G_C keeps. This row prunes a copy of G_O at channel granularity
with the run's ``prune`` settings (ratio or ``target_macs``, importance, rounding), removes the channels physically,
then trains that network from random initialisation with a random D and the plain GAN loss for the teacher's full
budget — the same MACs as the compressed generator, none of its weights.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from typing import Any

from torch import nn

from gancompress.config import PruneCfg
from gancompress.errors import UserError
from gancompress.methods.base import METHODS
from gancompress.methods.baselines.small_dense_scratch import SmallDenseScratch
from gancompress.pruning.physical import remove_pruned_channels
from gancompress.pruning.pruner import Pruner

log = logging.getLogger(__name__)


def same_widths(g_orig: nn.Module, prune: PruneCfg, example_inputs: tuple[Any, ...]) -> nn.Module:
    """A physically shrunk copy of ``g_orig`` with the widths channel pruning under ``prune`` keeps (weights not
    reset: the training pipeline re-initialises them for a row from random init)."""
    g = copy.deepcopy(g_orig)
    cfg = replace(prune, granularity="channel", schedule="one_shot")
    pruner = Pruner.attach(g, cfg, example_inputs=example_inputs)
    pruner.prune()
    small, report = remove_pruned_channels(g.eval(), example_inputs)
    small.train(g_orig.training)
    log.info(
        "same-widths generator: %d → %d params (channel ratio %.3f)",
        report["params_before"], report["params_after"], pruner.cfg.sparsity,
    )  # fmt: skip
    return small


@METHODS.register("same_widths_scratch")
class SameWidthsScratch(SmallDenseScratch):
    """Row c for channel compression: the kept widths, random init, random D, GAN loss, full teacher budget."""

    name = "same_widths_scratch"

    def build_generator(
        self, g_orig: nn.Module, prune: PruneCfg, example_inputs: tuple[Any, ...] | None = None
    ) -> nn.Module:
        if example_inputs is None:
            raise UserError("same_widths_scratch traces the generator: it needs example inputs")
        return same_widths(g_orig, prune, example_inputs)
