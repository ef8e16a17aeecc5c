"""The paper's Table 1 as data: every row's letter, method id and published FID (docs/method.md §4).

The paper's numbers are StarGAN on CelebA 128 px at 50 % element sparsity, Inception FID; ours are a CPU-scale
analogue with a different feature extractor, so only *ratios* to each table's own dense row (row a) are comparable
across the two — the report shows both.

Example:
    >>> TABLE1_BY_METHOD["self_supervised"].row, TABLE1_BY_METHOD["self_supervised"].paper_fid
    ('b', 6.929)
    >>> [r.method for r in select_rows(["lit", "dense"])]
    ['dense', 'lit']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gancompress.errors import UserError


@dataclass(frozen=True, kw_only=True)
class Table1Row:
    """One row of docs/method.md §4's table: how G_C and D start, what G_C is trained with, and the published FID."""

    row: str
    method: str
    paper_fid: float | None
    g_init: str
    d: str
    loss: str


# docs/method.md §4 Table 1, in the paper's order (c′ is the rebuttal's promised row; it has no published FID).
TABLE1: tuple[Table1Row, ...] = (
    Table1Row(row="a", method="dense", paper_fid=6.113, g_init="random", d="random, trained", loss="standard GAN"),
    Table1Row(row="b", method="self_supervised", paper_fid=6.929, g_init="G_O, AGP", d="D_O, fine-tuned", loss="Eq. 9"),
    Table1Row(
        row="c", method="small_dense_scratch", paper_fid=72.821, g_init="random, narrower", d="random",
        loss="standard GAN",
    ),
    Table1Row(
        row="c′", method="small_dense_scratch_trained_d", paper_fid=None, g_init="random, narrower", d="D_O",
        loss="standard GAN",
    ),
    Table1Row(
        row="d", method="oneshot_finetune", paper_fid=24.404, g_init="G_O, one-shot", d="D_O, trained",
        loss="standard GAN",
    ),
    Table1Row(
        row="e", method="agp_finetune", paper_fid=35.677, g_init="G_O, AGP", d="random, trained", loss="standard GAN"
    ),
    Table1Row(
        row="f", method="agp_scratch", paper_fid=84.941, g_init="random, AGP", d="random, trained", loss="standard GAN"
    ),
    Table1Row(
        row="g", method="oneshot_distill", paper_fid=45.461, g_init="G_O, one-shot", d="none",
        loss="‖G_C(x) − G_O(x)‖",
    ),
    Table1Row(
        row="h", method="oneshot_distill_adv", paper_fid=38.985, g_init="G_O, one-shot", d="D_O, trained",
        loss="standard GAN + distill",
    ),
    Table1Row(
        row="i", method="distill_fixed_d", paper_fid=15.182, g_init="G_O, one-shot", d="D_O, frozen",
        loss="adversarial via frozen D_O + distill",
    ),
    Table1Row(
        row="j", method="adversarial_distill", paper_fid=92.721, g_init="random", d="random; real = G_O(x)",
        loss="fool that D",
    ),
    Table1Row(
        row="k", method="gan_kd", paper_fid=103.094, g_init="G_O, pruned", d="random, trained",
        loss="standard GAN + MSE to G_O",
    ),
    Table1Row(
        row="l", method="lit", paper_fid=194.026, g_init="G_O, pruned", d="D_O frozen, unused",
        loss="intermediate features + output",
    ),
    Table1Row(
        row="m", method="em_prune", paper_fid=159.767, g_init="G_O, masks re-selected", d="D_O, pruned, trained",
        loss="standard GAN + G_O terms",
    ),
    Table1Row(
        row="n", method="prune_g_and_d", paper_fid=46.453, g_init="G_O, AGP", d="D_O, pruned", loss="Eq. 9"
    ),
)  # fmt: skip
TABLE1_BY_METHOD: dict[str, Table1Row] = {r.method: r for r in TABLE1}
#: Rows whose G_C starts from random init and gets the teacher's full budget (docs/method.md §4 "Budget").
RANDOM_INIT_ROWS = ("a", "c", "c′", "f", "j")


def select_rows(methods: Sequence[str] | None = None) -> list[Table1Row]:
    """The Table 1 rows for ``methods`` (method ids or row letters) in the paper's order; ``None`` = all 15.

    Raises:
        UserError: For a name that is neither a Table 1 method id nor a row letter (lists the valid ones).
    """
    if not methods:
        return list(TABLE1)
    by_letter = {r.row: r.method for r in TABLE1} | {"c'": "small_dense_scratch_trained_d"}
    wanted = set()
    for name in methods:
        name = name.strip()
        method = by_letter.get(name, name)
        if method not in TABLE1_BY_METHOD:
            valid = ", ".join(f"{r.method} ({r.row})" for r in TABLE1)
            raise UserError(f"unknown Table 1 method {name!r}; valid values: {valid}")
        wanted.add(method)
    return [r for r in TABLE1 if r.method in wanted]


__all__ = ["RANDOM_INIT_ROWS", "TABLE1", "TABLE1_BY_METHOD", "Table1Row", "select_rows"]
