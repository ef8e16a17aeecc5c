"""The bring-your-own-GAN contract: a ``GanLoss`` names the family's loss terms (PAPER.md §2, Eq. 7–8).

Every built-in family is expressed through this interface, so a user's GAN is not a second code path: pass any
generator ``g``, discriminator ``d`` and a ``GanLoss`` subclass to :func:`gancompress.compress`.

Terms are returned **per sample** (shape ``(B,)``) where possible, so Eq. 7 can be reduced per batch or per sample;
a scalar term is accepted and then only the ``batch`` reduction is available.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

Batch = dict[str, torch.Tensor]


class GanLoss(ABC):
    """Named G and D loss terms of one GAN family, and how a batch becomes generator input.

    Subclasses set ``g_weights`` / ``d_weights`` (the family's own training weights, e.g. StarGAN's α, β, δ) and
    implement the four abstract methods.

    Example (a non-saturating GAN on noise)::

        class MyLoss(GanLoss):
            g_weights = {"gen": 1.0}
            d_weights = {"real": 1.0, "fake": 1.0}
            def generator_input(self, batch): return (torch.randn(len(batch["real"]), 64),)
            def sample_input(self, n, generator, device): return (torch.randn(n, 64, generator=generator).to(device),)
            def generator_terms(self, g_out, batch, d): return {"gen": softplus(-d(g_out))}
            def discriminator_terms(self, g_out, batch, d, *, fake_only=False): ...
    """

    g_weights: Mapping[str, float] = {}
    d_weights: Mapping[str, float] = {}

    @abstractmethod
    def generator_input(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        """Inputs ``x`` for ``g(*x)`` for this batch (noise, source image, target domain…)."""

    @abstractmethod
    def sample_input(self, n: int, generator: torch.Generator, device: torch.device | str) -> tuple[torch.Tensor, ...]:
        """``n`` reproducible evaluation inputs drawn with ``generator`` (a CPU ``torch.Generator``)."""

    @abstractmethod
    def generator_terms(self, g_out: torch.Tensor, batch: Batch, d: nn.Module) -> dict[str, torch.Tensor]:
        """G's loss terms for ``g_out`` judged by ``d`` (e.g. ``{"gen": ..., "cls": ..., "rec": ...}``)."""

    @abstractmethod
    def discriminator_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module, *, fake_only: bool = False
    ) -> dict[str, torch.Tensor]:
        """D's loss terms; with ``fake_only`` only the terms that depend on the fakes (Eq. 8's "dis", "gp")."""

    def fake_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(G terms, fake-dependent D terms) for ``g_out``. Families override this to share one D forward."""
        return self.generator_terms(g_out, batch, d), self.discriminator_terms(g_out, batch, d, fake_only=True)

    #: what D outputs: "logit" (sigmoid = P(real)) or "critic" (WGAN, unbounded); used by the diagnostics only.
    score_kind: str = "logit"

    def discriminator_scores(self, d: nn.Module, images: torch.Tensor, batch: Batch) -> torch.Tensor:
        """D's raw real/fake score per sample, shape (B,) (first output if D returns a tuple, e.g. StarGAN)."""
        out = d(images)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.reshape(images.shape[0], -1).mean(1)

    def real_data(self, batch: Batch) -> torch.Tensor:
        """The real images of a batch (what generated samples are compared against in evaluation)."""
        return batch["real"]


def weighted_sum(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """Σ_k w_k · mean(term_k); a term without a weight counts with weight 1."""
    total: torch.Tensor | None = None
    for name, value in terms.items():
        part = weights.get(name, 1.0) * value.mean()
        total = part if total is None else total + part
    if total is None:
        raise ValueError("no loss terms")
    return total


def describe(loss: GanLoss) -> dict[str, Any]:
    """JSON-ready description of a loss object (class and weights), stored in run configs."""
    return {"class": type(loss).__name__, "g_weights": dict(loss.g_weights), "d_weights": dict(loss.d_weights)}
