"""Table 1 row h — ``oneshot_distill_adv``: row d plus a distillation term (paper FID 38.985).

One-shot pruning of G_O, D_O trained with its own objective, G loss = standard GAN + ‖G_C(x) − G_O(x)‖. The paper
reads its curves as a false positive: G and D losses converge like healthy training while the images are bad.
"""

from __future__ import annotations

from gancompress.methods.base import METHODS
from gancompress.methods.baselines._distill import Distill


@METHODS.register("oneshot_distill_adv")
class OneshotDistillAdv(Distill):
    """Row h: g_comp from G_O pruned one-shot; D_O trained; loss = Σ w·l_C + mean |G_C(x) − G_O(x)|."""

    name = "oneshot_distill_adv"
    schedule = "one_shot"
    d_init = "orig"
    adversarial = True
    distance = "l1"  # DECISION: the same distance as row g, so h = d + g's term exactly
