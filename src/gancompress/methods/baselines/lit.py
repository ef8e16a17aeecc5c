"""Table 1 row l — ``lit`` (Koratana et al. 2019): match the teacher's features block by block (paper FID 194.026).

LIT ("Learning Intermediate representations of Teachers") trains each student block to reproduce the teacher
block's output, plus a loss on the final output. The discriminator plays no part: D_O is kept frozen and unused
(Table 1), which the paper reads as the reason for LIT's poor FID.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from gancompress.families.contract import Batch, GanLoss
from gancompress.methods.base import METHODS, Method
from gancompress.methods.baselines._distill import capture_features, feature_points, output_distance


@METHODS.register("lit")
class Lit(Method):
    """Row l: g_comp from G_O pruned; D_O frozen and unused; loss = Σ_blocks MSE(feat_C, feat_O) + |G_C(x) − G_O(x)|.

    Block features are the outputs of :func:`~gancompress.methods._distill.feature_points` (DCGAN: each ReLU after a
    ConvTranspose2d + BatchNorm), captured with forward hooks on both generators during the same forward.

    # DECISION: the student runs its own full forward (each block sees the student's previous block); LIT's variant
    # that feeds the teacher's block inputs to the student blocks is not used, so one loss trains all blocks jointly.
    """

    name = "lit"
    # DECISION: Table 1 says only "pruned"; AGP, the schedule of our own method (row b).
    schedule = "agp"
    # DECISION: D_O is bound but frozen (no D step; train mode, buffers restored) and never enters the loss; keeping it
    # lets the loop's D-health diagnostics report how D_O judges g_comp during LIT training.
    d_init = "orig"
    train_d = False
    feat_weight: ClassVar[float] = 1.0  # DECISION: the paper gives no weights; features and output count equally
    out_weight: ClassVar[float] = 1.0
    out_distance: ClassVar[str] = "l1"  # DECISION: the same output distance as row g

    def setup(self, g_comp: nn.Module, g_orig: nn.Module | None, d: nn.Module | None, loss: GanLoss) -> None:
        super().setup(g_comp, g_orig, d, loss)
        self.points = feature_points(g_orig)  # g_comp is a copy of g_orig: the same module names in both

    def generator_step(self, batch: Batch) -> dict[str, Any]:
        x = self.loss.generator_input(batch)  # the SAME x for teacher and student
        with self.teacher_side(), capture_features(self.g_orig, self.points) as feats_o:
            out_o = self.g_orig(*x)  # in G_C's mode: equal networks have equal features (docs/method.md §1)
        with capture_features(self.g_comp, self.points) as feats_c:
            out_c = self.g_comp(*x)
        # Σ over blocks of the mean squared feature error (DECISION: mean, not sum, over a block's elements so wide
        # early blocks do not drown the later ones)
        feat = sum(((fc - fo) ** 2).mean() for fc, fo in zip(feats_c, feats_o, strict=True))
        feat = feat if isinstance(feat, torch.Tensor) else out_c.new_zeros(())
        out = output_distance(out_c, out_o, self.out_distance)
        total = self.feat_weight * feat + self.out_weight * out
        return {"loss": total, "g/feat": feat.detach(), "g/distill": out.detach()}
