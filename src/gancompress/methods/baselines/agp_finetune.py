"""Table 1 row e — ``agp_finetune``: G_O pruned gradually (AGP) and fine-tuned against a new D (paper FID 35.677).

Same schedule as row b (Zhu & Gupta 2018, docs/method.md §3) but the plain adversarial loss and a discriminator trained
from random initialisation: with row d it isolates the pretrained D (rebuttal: "the pretrained D is the key").
"""

from __future__ import annotations

from gancompress.methods.base import METHODS, Method


@METHODS.register("agp_finetune")
class AgpFinetune(Method):
    """Row e: g_comp from G_O, AGP; random D trained with its own objective; standard GAN loss on g_comp."""

    name = "agp_finetune"
    d_init = "random"
    schedule = "agp"
