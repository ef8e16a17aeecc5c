"""Table 1 row k — ``gan_kd`` (Aguinaldo et al. 2019): adversarial training + MSE to the teacher (FID 103.094).

Aguinaldo et al. train a small student with a new discriminator and a pixel-wise mean squared error to the
teacher's output on the same noise; here the student is G_O pruned.
"""

from __future__ import annotations

from gancompress.methods.base import METHODS
from gancompress.methods.baselines._distill import Distill


@METHODS.register("gan_kd")
class GanKD(Distill):
    """Row k: g_comp from G_O pruned with AGP; random D trained; loss = Σ w·l_C + MSE(G_C(x), G_O(x))."""

    name = "gan_kd"
    # DECISION: Table 1 says only "pruned"; AGP, the schedule of our own method (row b), so the row differs from b in
    # the loss and the D alone.
    schedule = "agp"
    d_init = "random"  # Aguinaldo et al. train a fresh discriminator for the student
    adversarial = True
    distance = "mse"  # Aguinaldo et al.: joint (pixel-wise) mean squared error to the teacher
