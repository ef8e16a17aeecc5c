"""``gancompress reproduce structured``: channel compression at MAC targets, its baselines at the same MACs, and the
measured speed of every generator (docs/results.md "Faster at the same quality").

Per task and per MAC target (a fraction of the teacher's MACs; default 1/4 and 1/10) the same teacher is compressed
by each row, all through :func:`gancompress.api.compress` at channel granularity (docs/pruning.md "Channel pruning"),
so every compressed generator can be physically shrunk:

- ``ours``: self_supervised (Eq. 9 through D_O) plus the recovery recipe (:data:`RECIPE`, chosen on the validation
  split);
- ``paper``: the paper's self_supervised alone, same channels, no recovery ingredients;
- ``row_d``: Table 1 row d — one-shot channel pruning, then plain GAN fine-tuning with D_O;
- ``row_c``: Table 1 row c — the same widths as a fresh dense network, random D, the teacher's full budget;
- the same-budget dense control (the teacher trained on, unpruned; docs/method.md §7), once per task.

A row's point is ``Point(task, granularity=row, sparsity=MAC target, seed)``: the sweep machinery (resume, worker
processes, results.json after every cell) is the granularity study's.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gancompress.config import MethodCfg, PruneCfg, TrainCfg, override
from gancompress.errors import UserError
from gancompress.pruning.channel_groups import dense_layer_macs
from gancompress.pruning.channel_masks import ChannelMaskSet
from gancompress.pruning.counting import count_parameters
from gancompress.pruning.physical import remove_pruned_channels

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gancompress.config import RunCfg

log = logging.getLogger(__name__)

#: the MAC targets (fraction of the teacher's MACs): ≈ 4× and ≈ 10× fewer
MAC_TARGETS = (0.25, 0.1)
#: the rows, in report order
ROWS = ("ours", "paper", "row_d", "row_c")
#: the recovery recipe of ``ours`` (``--set`` keys), chosen on the validation split of wide DCGAN teachers (ngf 32;
#: docs/results.md "Choosing the recovery recipe at the wide profile" and "The recipe re-chosen on a second teacher:
#: anchor 1000"): a heavy output L1 to G_O. The fine-tuned D_O can learn to accept G_O's outputs while it rejects
#: G_C's, so G_O's loss term in Eq. 7 falls towards 0 and the relative error |l_O - l_C| / |l_O| grows without bound.
#: At a weight of 100 that term swamped the L1 on the second teacher (16-50x G_O on val, at 1/4 and 1/10 of the
#: MACs); at 1000 no run collapsed there.
RECIPE: tuple[str, ...] = ("method.anchor=1000",)
#: channel selection shared by every pruned row: group L2 norms, widths rounded to 8 at realistic widths
CHANNEL_IMPORTANCE = "l2"
#: the methods of the rows (``ours`` and ``paper`` differ by the recipe only)
ROW_METHODS = {"ours": "self_supervised", "paper": "self_supervised", "row_d": "oneshot_finetune",
               "row_c": "same_widths_scratch"}  # fmt: skip


def check_rows(rows: list[str]) -> None:
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise UserError(f"unknown structured rows {', '.join(unknown)}; valid: {', '.join(ROWS)}")


def row_settings(
    cfg: RunCfg,
    row: str,
    target: float,
    *,
    round_to: int | None = None,
    recipe: tuple[str, ...] = RECIPE,
    overrides: Sequence[str] = (),
) -> tuple[MethodCfg, PruneCfg, TrainCfg]:
    """``(method, prune, train)`` of ``row`` at MAC fraction ``target`` over the task's config ``cfg``.

    ``round_to``: kept widths a multiple of it (default: 8 when the teacher's narrowest pruned layer has ≥ 32
    channels, else 1 — rounding a 16-wide layer to 8 would leave the targets unreachable).
    ``overrides``: the user's ``--set`` pairs (already in ``cfg``); re-applied after the recipe so that an explicit
    ``--set method.anchor=10`` changes ``ours`` instead of being replaced by the recipe's value.
    """
    check_rows([row])
    if recipe and row == "ours":
        cfg = override(override(cfg, list(recipe)), list(overrides))
    prune = replace(
        cfg.prune, granularity="channel", target_macs=target, importance=CHANNEL_IMPORTANCE,
        round_to=round_to if round_to is not None else cfg.prune.round_to, schedule="agp",
    )  # fmt: skip
    method = replace(cfg.method, name=ROW_METHODS[row])
    if row != "ours":  # the paper's Eq. 9 alone: the MethodCfg defaults for the recipe's keys
        base = MethodCfg()
        method = replace(base, name=ROW_METHODS[row], lam=cfg.method.lam)
    return method, prune, cfg.train


def round_to_for(g: nn.Module) -> int:
    """8 when every prunable layer of ``g`` but the image ones is ≥ 32 wide (SIMD-friendly widths cost little
    there), else 1."""
    widths = [m.out_channels for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    inner = [w for w in widths if w > 4]
    return 8 if inner and min(inner) >= 32 else 1


def macs_record(teacher: nn.Module, g: nn.Module, masks: Any, example: tuple[torch.Tensor, ...]) -> dict[str, Any]:
    """MACs and parameters of the deployable generator (physically shrunk when it carries channel masks) over the
    teacher's."""
    one = tuple(t[:1] for t in example)
    dense = sum(dense_layer_macs(teacher, one).values())
    if isinstance(masks, ChannelMaskSet):
        kept = masks.macs_fraction()
        small, _ = remove_pruned_channels(g.eval(), example)
        params = count_parameters(small)
    else:
        kept = sum(dense_layer_macs(g, one).values()) / dense
        params = count_parameters(g)
    return {"macs": round(dense * kept), "macs_fraction": round(kept, 4), "mac_reduction": round(1 / kept, 2),
            "params": params, "params_teacher": count_parameters(teacher)}  # fmt: skip


__all__ = [
    "CHANNEL_IMPORTANCE",
    "MAC_TARGETS",
    "RECIPE",
    "ROWS",
    "ROW_METHODS",
    "check_rows",
    "macs_record",
    "round_to_for",
    "row_settings",
]
