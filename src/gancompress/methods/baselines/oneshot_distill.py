"""Table 1 row g — ``oneshot_distill`` (Hinton et al. 2015): one-shot pruning, distillation only (paper FID 45.461).

No discriminator at all: G_C is pulled to G_O's output on the same input, ‖G_C(x) − G_O(x)‖.
"""

from __future__ import annotations

from gancompress.methods.base import METHODS
from gancompress.methods.baselines._distill import Distill


@METHODS.register("oneshot_distill")
class OneshotDistill(Distill):
    """Row g: g_comp from G_O pruned one-shot; no D; loss = mean |G_C(x) − G_O(x)| (logged ``g/distill``)."""

    name = "oneshot_distill"
    schedule = "one_shot"
    d_init = "none"
    adversarial = False
    # DECISION: the paper writes ‖G_C(x) − G_O(x)‖ without naming the norm; L1 (mean absolute error) is the usual
    # image-to-image distance of the paper's families (pix2pix, CycleGAN, StarGAN reconstruction).
    distance = "l1"
