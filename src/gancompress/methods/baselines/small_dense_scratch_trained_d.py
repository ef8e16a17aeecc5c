"""Table 1 row c′ — ``small_dense_scratch_trained_d``: row c with D initialised from D_O (no paper FID).

The rebuttal promised this row to separate the two ingredients of row c's failure (docs/method.md §7): a generator too
narrow to learn vs a discriminator trained from scratch. Only the D initialisation differs from row c.
"""

from __future__ import annotations

from gancompress.methods.base import METHODS
from gancompress.methods.baselines.small_dense_scratch import SmallDenseScratch


@METHODS.register("small_dense_scratch_trained_d")
class SmallDenseScratchTrainedD(SmallDenseScratch):
    """Row c′: narrower dense G from random init, D_O fine-tuned with its own objective, standard GAN loss."""

    name = "small_dense_scratch_trained_d"
    d_init = "orig"  # the rebuttal's row: the pretrained D is what the paper argues matters (docs/method.md §7)
