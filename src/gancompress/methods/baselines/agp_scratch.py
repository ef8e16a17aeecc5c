"""Table 1 row f — ``agp_scratch``: a randomly initialised G pruned with AGP while trained from scratch (FID 84.941).

Row e without G_O's weights: random G and D, standard GAN loss, the teacher's full budget (docs/method.md §4).
"""

from __future__ import annotations

from gancompress.methods.base import METHODS, Method


@METHODS.register("agp_scratch")
class AgpScratch(Method):
    """Row f: random G pruned with AGP, random D trained, standard GAN loss, full teacher budget."""

    name = "agp_scratch"
    g_init = "random"
    d_init = "random"
    schedule = "agp"
    budget = "full"  # docs/method.md §4: rows from random init get the teacher's full budget
