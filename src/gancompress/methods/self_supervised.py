"""Table 1 row b — ``self_supervised`` (Yu & Pool): match g_orig's loss terms through the pretrained D (Eq. 7–9)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.families.contract import Batch, GanLoss
from gancompress.methods.base import METHODS, Method
from gancompress.methods.recovery import (
    FeatureAdapters,
    buffers_untouched,
    capture_last_layer_input,
    capture_outputs,
    distill_points,
    penultimate_distance,
)

log = logging.getLogger(__name__)


def consistency(
    orig: Mapping[str, torch.Tensor],
    comp: Mapping[str, torch.Tensor],
    weights: Mapping[str, float],
    *,
    reduction: str = "batch",
    distance: str = "abs",
    eps: float = 1e-8,
) -> torch.Tensor:
    """Σ_k w_k · dist(l_O[k], l_C[k]) / |l_O[k]| — Eq. 7 (G terms) and Eq. 8 (D terms on fakes).

    ``reduction="batch"``: terms are batch means before the relative error (the paper's formula);
    ``"sample"``: relative error per sample, then averaged. ``distance="squared"`` squares the relative error
    (a third-party port's variant). ``eps`` guards the denominator.
    """
    if set(orig) != set(comp):  # a loss object naming its terms differently per call: no pairs to compare
        raise UserError(f"loss terms of G_O {sorted(orig)} and G_C {sorted(comp)} differ; Eq. 7-8 pair them by name")
    total = torch.zeros((), device=next(iter(comp.values())).device) if comp else torch.zeros(())
    for name, l_c in comp.items():
        l_o = orig[name].detach()
        if reduction == "batch" or l_c.dim() == 0:
            if reduction == "sample":
                raise ValueError(f"per-sample reduction needs per-sample terms; {name!r} is a scalar")
            l_o, l_c = l_o.mean(), l_c.mean()
        rel = (l_o - l_c).abs() / (l_o.abs() + eps)
        _warn_if_ill_conditioned(name, l_o, rel, reduction)
        if distance == "squared":
            rel = rel**2
        total = total + weights.get(name, 1.0) * rel.mean()
    return total


#: a relative error above this means |l_O| is ~0 for that term (e.g. a hinge term that is exactly 0): warned once
ILL_CONDITIONED = 1e3
_warned: set[str] = set()


def _warn_if_ill_conditioned(name: str, l_o: torch.Tensor, rel: torch.Tensor, reduction: str = "batch") -> None:
    """Eq. 7-8 divide by |l_O|; where the teacher's term is ~0 the ratio explodes (1/eps) and swamps every other
    term. The paper's formula is kept (docs/method.md §2); the user is told once per term which term and what to try.
    The advice depends on the reduction: a batch mean that is still ~0 means D_O all but accepts G_O's outputs
    (e.g. a non-saturating term of a teacher that fools its D), which no reduction fixes. It also happens during
    compression: D_O, fine-tuned on G_C's fakes only, can come to accept G_O's while rejecting G_C's; bounding the
    denominator (eps) did not stop the collapse that follows, a heavy anchor did (docs/results.md "The recipe
    re-chosen on a second teacher: anchor 1000")."""
    if name in _warned or not bool((rel.detach() > ILL_CONDITIONED).any()):
        return
    _warned.add(name)
    tries = "method.reduction=batch (means are rarely 0), " if reduction == "sample" else ""
    log.warning(
        "Eq. 7-8: G_O's loss term %r is ~0 (min |l_O| %.2g), so its relative error reaches %.3g and dominates the "
        "loss; if this persists try %smethod.anchor>0 (an output L1 to G_O heavy enough to dominate, e.g. 1000 as in "
        "the channel recipe), a smaller weight for that term, or a loss term that is not ~0 for the teacher (e.g. "
        "softplus instead of a hinge)",
        name, float(l_o.detach().abs().min()), float(rel.detach().max()), tries,
    )  # fmt: skip


@METHODS.register("self_supervised")
class SelfSupervised(Method):
    """Row b: g_comp from G_O with AGP pruning, D_O fine-tuned, G loss = L_GC + λ·L_DC (Eq. 9, λ = 0.5).

    D is updated by the inherited standard step (DECISION, docs/method.md §1: D_O keeps its own objective, real data vs
    g_comp's fakes). Optional ``anchor`` adds w·‖g_comp(x) − g_orig(x)‖₁ (the rebuttal's KL(G_O(x), G_C(x)) → 0).
    Optional recovery terms (docs/pruning.md "Recovery after pruning"), each 0 when G_C = G_O:
    ``feature_distill`` adds w·mean_layers MSE(adapter(f_C), f_O) over intermediate feature maps, ``d_feature`` adds
    w·‖D_pen(G_C(x)) − D_pen(G_O(x))‖₁ over D's penultimate features.
    """

    name = "self_supervised"
    # Eq. 7–9, the anchor variant and the recovery terms
    options = ("lam", "reduction", "distance", "eps", "anchor", "feature_distill", "d_feature")

    def setup(self, g_comp: nn.Module, g_orig: nn.Module | None, d: nn.Module | None, loss: GanLoss) -> None:
        super().setup(g_comp, g_orig, d, loss)
        self.adapters: FeatureAdapters | None = None
        if self.cfg.d_feature > 0 and d is None:
            raise UserError("method.d_feature needs a discriminator; none was given")
        if self.cfg.feature_distill > 0:
            ref = next(g_orig.parameters(), None)
            device = ref.device if ref is not None else "cpu"
            example = loss.sample_input(2, torch.Generator().manual_seed(0), device)  # finds the output layer
            # g_comp is a copy of g_orig (or, for a narrower student, built with the same module names)
            self.adapters = FeatureAdapters.between(g_comp, g_orig, distill_points(g_orig, example))

    def extra_g_params(self) -> list[nn.Parameter]:
        return list(self.adapters.parameters()) if self.adapters is not None else []

    def extra_state(self) -> dict[str, torch.Tensor]:
        """The adapters' weights: saved in training checkpoints, never in the generator."""
        if self.adapters is None:
            return {}
        return {f"adapters.{k}": v for k, v in self.adapters.state_dict().items()}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.adapters is not None:
            state = {k.removeprefix("adapters."): v for k, v in tensors.items() if k.startswith("adapters.")}
            self.adapters.load_state_dict(state)

    def generator_step(self, batch: Batch) -> dict[str, Any]:
        cfg, loss = self.cfg, self.loss
        points = self.adapters.points if self.adapters is not None else None
        x = loss.generator_input(batch)  # the SAME inputs for g_orig and g_comp (docs/method.md §2)
        with self.teacher_side():  # G_O in G_C's mode, no side effects: L_GC = 0 when G_C = G_O (docs/method.md §1)
            with capture_outputs(self.g_orig, points) if points else nullcontext({}) as feats_o:
                out_o = self.g_orig(*x)
            g_o, d_o = loss.fake_terms(out_o, batch, self.d)
            d_feats_o = self._d_features(out_o, batch) if cfg.d_feature > 0 else []
        with capture_outputs(self.g_comp, points) if points else nullcontext({}) as feats_c:
            out_c = self.g_comp(*x)
        g_c, d_c = loss.fake_terms(out_c, batch, self.d)
        d_feats_c = self._d_features(out_c, batch) if cfg.d_feature > 0 else []
        opts = {"reduction": cfg.reduction, "distance": cfg.distance, "eps": cfg.eps}
        l_gc = consistency(g_o, g_c, loss.g_weights, **opts)  # Eq. 7
        l_dc = consistency(d_o, d_c, loss.d_weights, **opts)  # Eq. 8
        total = l_gc + cfg.lam * l_dc  # Eq. 9
        out: dict[str, Any] = {"g/gc": l_gc.detach(), "g/dc": l_dc.detach()}
        if cfg.anchor > 0:
            anchor = (out_c - out_o).abs().mean()
            total = total + cfg.anchor * anchor
            out["g/anchor"] = anchor.detach()
        if self.adapters is not None:
            feat = self.adapters.loss(feats_c, feats_o)
            total = total + cfg.feature_distill * feat
            out["g/feat_distill"] = feat.detach()
        if cfg.d_feature > 0:
            d_feat = penultimate_distance(d_feats_c, d_feats_o)
            total = total + cfg.d_feature * d_feat
            out["g/d_feature"] = d_feat.detach()
        out.update({f"g/{k}": v.detach().mean() for k, v in g_c.items()})
        out.update({f"g/{k}_orig": v.mean() for k, v in g_o.items()})
        return {"loss": total, **out}

    def _d_features(self, images: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
        """D's penultimate features of ``images`` (``d_feature``), judged as the family judges images, by the D being
        fine-tuned (D_O). Called once inside :meth:`teacher_side` for G_O(x) and once for G_C(x), each right after
        that side's Eq. 7–8 terms: both see the same D buffers and random draws, so the distance is 0 when
        G_C = G_O; D's buffers are left untouched (they advance only with the Eq. 8 forward, as without it)."""
        with buffers_untouched(self.d), capture_last_layer_input(self.d) as feats:
            self.loss.discriminator_scores(self.d, images, batch)
        return feats
