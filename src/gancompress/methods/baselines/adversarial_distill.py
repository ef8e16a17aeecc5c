"""Table 1 row j — ``adversarial_distill`` (Wang et al. 2018): a new D tells student from teacher (paper FID 92.721).

Wang et al.'s "adversarial learning of portable student networks": the discriminator's "real" samples are the
teacher's outputs G_O(x) and its fakes the student's G_C(x) on the same x; the student learns to fool it.
"""

from __future__ import annotations

from typing import Any

import torch

from gancompress.families.contract import Batch, weighted_sum
from gancompress.methods.base import METHODS, Method


@METHODS.register("adversarial_distill")
class AdversarialDistill(Method):
    """Row j: random G; random D trained on G_O(x) ("real") vs G_C(x) (fake), same x; G's loss = fool that D."""

    name = "adversarial_distill"
    g_init = "random"
    d_init = "random"
    budget = "full"  # docs/method.md §4: rows from random init get the teacher's full budget
    # DECISION: Table 1 compares every row at the same sparsity, so the student from random init is pruned with the
    # configured schedule (AGP by default) like row f; row c covers the narrower-dense alternative.

    def discriminator_step(self, batch: Batch) -> dict[str, Any] | None:
        loss = self.loss
        x = loss.generator_input(batch)  # the SAME x for teacher and student
        with self.teacher_side():  # G_O in G_C's mode, no side effects (docs/method.md §1)
            out_o = self.g_orig(*x)
        with torch.no_grad():
            out_c = self.g_comp(*x)
        terms = loss.discriminator_terms(out_c, loss.teacher_as_real(batch, out_o), self.d)
        return {"loss": weighted_sum(terms, loss.d_weights), **{f"d/{k}": v.mean() for k, v in terms.items()}}

    def generator_step(self, batch: Batch) -> dict[str, Any]:
        loss = self.loss
        x = loss.generator_input(batch)
        with self.teacher_side():
            out_o = self.g_orig(*x)
        out_c = self.g_comp(*x)
        # DECISION: the family's full G terms with G_O(x) as the real image (GanLoss.teacher_as_real): a term that
        # compares with the target image (pix2pix's L1) then compares with the teacher's output instead.
        terms = loss.generator_terms(out_c, loss.teacher_as_real(batch, out_o), self.d)
        return {"loss": weighted_sum(terms, loss.g_weights), **{f"g/{k}": v.mean() for k, v in terms.items()}}
