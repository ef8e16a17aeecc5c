"""Table 1 row n — ``prune_g_and_d`` (after Liu et al. 2018a): row b with D_O pruned too (paper FID 46.453).

Everything as in our method (Eq. 9, AGP, D_O fine-tuned) except that D_O is pruned to the same sparsity with the same
granularity and schedule: the paper's evidence that D must keep its capacity to guide G_C.
"""

from __future__ import annotations

from gancompress.methods.base import METHODS
from gancompress.methods.self_supervised import SelfSupervised


@METHODS.register("prune_g_and_d")
class PruneGAndD(SelfSupervised):
    """Row n: g_comp from G_O with AGP; D_O fine-tuned and pruned with AGP to the same sparsity; G loss = Eq. 9."""

    name = "prune_g_and_d"
    prunes_d = True  # the loop updates D's masks with g_comp's schedule (AGP on D too), masks D's grads
