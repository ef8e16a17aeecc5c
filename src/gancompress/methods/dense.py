"""Table 1 row a — ``dense``: the teacher itself, trained from random G and D with the standard GAN loss."""

from __future__ import annotations

from gancompress.methods.base import METHODS, Method


@METHODS.register("dense")
class Dense(Method):
    """Row a: random init, standard adversarial training, no pruning; also how teachers are trained."""

    name = "dense"
    g_init = "random"
    d_init = "random"
    prunes = False
    budget = "full"
