"""Table 1 row m — ``em_prune`` (QGAN-style): masks re-selected every K steps, may regrow; D pruned too (FID 159.767).

An EM-like alternation after QGAN (Wang et al. 2019): an M-step trains the sparse G and D for K steps, an E-step
re-selects G's masks by magnitude from dense "shadow" weights, so a weight pruned at one selection can come back at
a later one. D_O is pruned to the same sparsity and trained. The paper reads its curves as a false positive: losses
converge to ~0 like healthy training while the images are bad.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gancompress.config import PruneCfg
from gancompress.families.contract import Batch, GanLoss, weighted_sum
from gancompress.methods.base import METHODS, Method
from gancompress.methods.self_supervised import consistency
from gancompress.pruning import MaskSet
from gancompress.pruning.granularity import PRUNABLE_TYPES
from gancompress.pruning.mask_buffers import stored_weight


@METHODS.register("em_prune")
class EmPrune(Method):
    """Row m: g_comp from G_O; masks re-selected every K = ``prune.update_every`` steps from dense shadow weights;
    D_O pruned to the same sparsity and trained; G loss = standard GAN + L_GC to G_O's terms (Eq. 7).

    # DECISION (regrowth): straight-through dense shadow weights W. The forward uses W ⊙ M (the masked module
    # weight); G's gradients are NOT masked (``mask_g_grads = False``), so the optimizer step also moves the pruned
    # entries, and :meth:`after_optimizer_step` folds that step into W before the loop re-applies the masks. Every K
    # steps the masks are recomputed from |W|: pruned weights that grew back in W are restored with their W value.
    # (Alternative rejected: merely not masking grads — the loop zeroes pruned weights after every step, so their
    # magnitude never accumulates and nothing could regrow.)
    # DECISION (schedule): one-shot to the target sparsity at step 0 (G_O's magnitudes = the first E-step), then
    # re-selection at that sparsity; K reuses PruneCfg.update_every (Zhu & Gupta's Δt, default 10).
    # DECISION (D): D's masks follow the same schedule (one-shot, same sparsity and granularity) with masked grads and
    # no regrowth: the EM re-selection targets the generator being compressed.
    # DECISION (loss): "standard GAN + G_O terms" = Σ_k w_k·l_C[k] + L_GC(l_O, l_C) (Eq. 7 with the method options),
    # the G_O terms computed on the same x through the same (pruned) D. Row b uses L_GC alone, plus λ·L_DC.
    # W lives in the strategy and goes into every checkpoint (:meth:`extra_state`), so ``--resume`` continues with
    # the same shadow weights — pruned entries included — as the uninterrupted run.
    """

    name = "em_prune"
    options = ("reduction", "distance", "eps")  # its L_GC term (Eq. 7) uses the method options
    schedule = "one_shot"
    prunes_d = True
    mask_g_grads = False

    def setup(self, g_comp: nn.Module, g_orig: nn.Module | None, d: nn.Module | None, loss: GanLoss) -> None:
        super().setup(g_comp, g_orig, d, loss)
        # W starts as G_O's dense weights, taken before the loop's one-shot update zeroes the pruned ones
        layers = [(name, m) for name, m in g_comp.named_modules() if isinstance(m, PRUNABLE_TYPES)]
        self.dense: dict[str, torch.Tensor] = {name: stored_weight(m).detach().clone() for name, m in layers}

    def extra_state(self) -> dict[str, torch.Tensor]:
        """The dense shadow weights W, saved with each checkpoint (``train._checkpoint``)."""
        return {f"dense.{name}": w.contiguous() for name, w in self.dense.items()}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore W from a checkpoint (an older checkpoint without it keeps W from G_O, as before)."""
        for key, value in tensors.items():
            if key.startswith("dense.") and key[len("dense.") :] in self.dense:
                self.dense[key[len("dense.") :]].copy_(value)

    @torch.no_grad()
    def after_optimizer_step(self, step: int, masks: MaskSet | None, prune: PruneCfg | None) -> None:
        if masks is None:
            return
        for name, mod in masks.items():
            mask = mod.weight_mask.bool()
            w, stored = self.dense.get(name), stored_weight(mod)  # the parameter (spectral norm: its original)
            if w is None:  # resumed run: W restarts from the masked weights
                w = self.dense[name] = stored.detach().clone()
            # kept entries were W itself, so the optimizer updated W; pruned entries were 0 = W ⊙ M, so the new value
            # is exactly the optimizer's step, added onto W (straight-through)
            w.copy_(torch.where(mask, stored, w + stored))
        every = int(prune.update_every) if prune is not None else 10
        if (step + 1) % every == 0 and masks.target_sparsity is not None:
            self.reselect(masks, masks.target_sparsity, prune.importance if prune is not None else "magnitude")

    @torch.no_grad()
    def reselect(self, masks: MaskSet, sparsity: float, importance: str = "magnitude") -> None:
        """E-step: load W into the modules and recompute the masks from it (pruned weights may regrow)."""
        for name, mod in masks.items():
            stored_weight(mod).copy_(self.dense[name])
        masks.update(sparsity, importance=importance)

    def generator_step(self, batch: Batch) -> dict[str, Any]:
        cfg, loss = self.cfg, self.loss
        x = loss.generator_input(batch)  # the SAME x for G_O and G_C (docs/method.md §2)
        with self.teacher_side():  # G_O in G_C's mode, no side effects (docs/method.md §1)
            g_o = loss.generator_terms(self.g_orig(*x), batch, self.d)
        g_c = loss.generator_terms(self.g_comp(*x), batch, self.d)
        gan = weighted_sum(g_c, loss.g_weights)
        l_gc = consistency(g_o, g_c, loss.g_weights, reduction=cfg.reduction, distance=cfg.distance, eps=cfg.eps)
        out: dict[str, Any] = {f"g/{k}": v.detach().mean() for k, v in g_c.items()}
        out["g/gc"] = l_gc.detach()
        out.update({f"g/{k}_orig": v.mean() for k, v in g_o.items()})
        return {"loss": gan + l_gc, **out}
