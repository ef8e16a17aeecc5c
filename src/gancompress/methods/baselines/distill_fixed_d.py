"""Table 1 row i — ``distill_fixed_d``: row g plus adversarial terms through a frozen D_O (paper FID 15.182).

The best baseline of Table 1: the pretrained D, even frozen, carries what distillation alone misses.
"""

from __future__ import annotations

from gancompress.methods.base import METHODS
from gancompress.methods.baselines._distill import Distill


@METHODS.register("distill_fixed_d")
class DistillFixedD(Distill):
    """Row i: g_comp from G_O pruned one-shot; D_O frozen (no D optimizer, no D step, its buffers restored) in the
    train mode it was trained in; loss = adversarial via D_O + mean |G_C(x) − G_O(x)|."""

    name = "distill_fixed_d"
    schedule = "one_shot"
    d_init = "orig"
    # Table 1: D_O **frozen** — no D step. It keeps judging with batch statistics, as it learned to: in eval mode a
    # BatchNorm D judges with running statistics it never trained with (docs/decisions.md "Normalisation mode").
    train_d = False
    adversarial = True
    distance = "l1"  # DECISION: the same distance as row g
