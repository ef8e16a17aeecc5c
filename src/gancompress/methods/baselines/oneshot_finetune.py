"""Table 1 row d — ``oneshot_finetune`` (Han et al. 2015): prune once, then plain adversarial fine-tuning with D_O."""

from __future__ import annotations

from gancompress.methods.base import METHODS, Method


@METHODS.register("oneshot_finetune")
class OneshotFinetune(Method):
    """Row d: g_comp from G_O pruned one-shot to the final sparsity; D_O trained; standard GAN loss on g_comp."""

    name = "oneshot_finetune"
    schedule = "one_shot"
