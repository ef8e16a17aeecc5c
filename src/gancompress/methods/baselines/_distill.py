"""Shared pieces of the distillation baselines (Table 1 rows g, h, i, j, k, l): output distances and feature taps.

``Distill`` is one strategy shape for rows g, h, i and k, which differ only in declarations: whether a D judges
g_comp (``adversarial``), which distance pulls G_C(x) to G_O(x) (``distance``) and with what weight.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gancompress.families.contract import Batch, weighted_sum
from gancompress.methods.base import Method
from gancompress.pruning.granularity import PRUNABLE_TYPES


def output_distance(out_c: torch.Tensor, out_o: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean ``|G_C(x) − G_O(x)|`` (``"l1"``) or mean squared error (``"mse"``) over all elements.

    Example:
        >>> output_distance(torch.zeros(2, 3), torch.ones(2, 3), "mse").item()
        1.0
    """
    if kind == "l1":
        return (out_c - out_o).abs().mean()
    if kind == "mse":
        return F.mse_loss(out_c, out_o)
    raise ValueError(f"unknown distance {kind!r}; valid values: l1, mse")


class Distill(Method):
    """g_comp(x) pulled to g_orig(x) on the same x, optionally plus the plain adversarial G terms through D.

    Loss: ``[Σ_k w_k · l_C[k]] + distill_weight · dist(G_C(x), G_O(x))``; logged as ``g/<term>`` and ``g/distill``.
    """

    adversarial: ClassVar[bool] = True
    distance: ClassVar[str] = "l1"
    # DECISION: the paper gives no weight for the distillation term of rows g–k; 1.0 adds it to the adversarial loss
    # at the scale of DCGAN's non-saturating term (~0.7) for images in [-1, 1].
    distill_weight: ClassVar[float] = 1.0

    def generator_step(self, batch: Batch) -> dict[str, Any]:
        loss = self.loss
        x = loss.generator_input(batch)  # the SAME x for teacher and student (as in Eq. 7, docs/method.md §2)
        with self.teacher_side():  # G_O in G_C's mode: G_C = G_O has distance 0 (docs/method.md §1)
            out_o = self.g_orig(*x)
        out_c = self.g_comp(*x)
        distill = output_distance(out_c, out_o, self.distance)
        total = self.distill_weight * distill
        out: dict[str, Any] = {"g/distill": distill.detach()}
        if self.adversarial and self.d is not None:
            terms = loss.generator_terms(out_c, batch, self.d)
            total = total + weighted_sum(terms, loss.g_weights)
            out.update({f"g/{k}": v.detach().mean() for k, v in terms.items()})
        return {"loss": total, **out}


# ----------------------------------------------------------------------------------------------- feature taps
def _is_activation(module: nn.Module) -> bool:
    return type(module).__module__ == "torch.nn.modules.activation"


def outermost_sequential(model: nn.Module) -> tuple[str, nn.Sequential] | None:
    """The shallowest ``nn.Sequential`` in ``model`` (``model`` itself if it is one), first in module order on ties."""
    best: tuple[int, str, nn.Sequential] | None = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Sequential):
            depth = name.count(".") + (1 if name else 0)
            if best is None or depth < best[0]:
                best = (depth, name, mod)
    return None if best is None else (best[1], best[2])


def feature_points(model: nn.Module) -> list[str]:
    """Qualified names of the modules whose outputs are the generator's block features (LIT, Table 1 row l).

    Inside the outermost ``nn.Sequential``: the activation that follows each prunable layer (conv → norm → act is one
    block), or, when the Sequential holds no such activations (e.g. residual blocks as children), every direct child.
    The last child is left out: it produces the output image, which the output loss already compares.

    Example:
        >>> g = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 1, 3), nn.Tanh())
        >>> feature_points(g)
        ['2']
    """
    found = outermost_sequential(model)
    if found is None:
        return []
    prefix, seq = found
    children = list(seq.named_children())
    points: list[str] = []
    after_layer = False
    for name, child in children:
        if isinstance(child, PRUNABLE_TYPES):
            after_layer = True
        elif after_layer and _is_activation(child):
            points.append(name)
            after_layer = False
    if not points:
        points = [name for name, _ in children]
    if children and points and points[-1] == children[-1][0]:
        points = points[:-1]
    return [f"{prefix}.{n}" if prefix else n for n in points]


@contextmanager
def capture_features(model: nn.Module, names: list[str]) -> Iterator[list[torch.Tensor]]:
    """Collect the outputs of ``model``'s modules ``names`` (in execution order) during the forwards in the block."""
    feats: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        feats.append(output[0] if isinstance(output, (tuple, list)) else output)

    handles = [model.get_submodule(n).register_forward_hook(hook) for n in names]
    try:
        yield feats
    finally:
        for h in handles:
            h.remove()
