"""DCGAN family: unconditional synthesis with the non-saturating BCE GAN loss (Goodfellow et al. 2014).

Named terms: G ``{"gen"}``; D ``{"real", "fake"}``. In Eq. 8 the discriminator's "dis" term on fakes is ``fake``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gancompress.config import DataCfg, ModelCfg
from gancompress.families.contract import FAMILIES, Batch, Family, GanLoss
from gancompress.models.build import create_model
from gancompress.models.dcgan import init_dcgan_weights


class DCGANLoss(GanLoss):
    """Non-saturating GAN loss; inputs are N(0, I) noise of size ``nz``."""

    g_weights: ClassVar[dict[str, float]] = {"gen": 1.0}
    d_weights: ClassVar[dict[str, float]] = {"real": 1.0, "fake": 1.0}

    def __init__(self, nz: int) -> None:
        self.nz = nz

    def generator_input(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        real = batch["real"]
        return (torch.randn(real.shape[0], self.nz, device=real.device),)

    def sample_input(self, n: int, generator: torch.Generator, device: torch.device | str) -> tuple[torch.Tensor, ...]:
        return (torch.randn(n, self.nz, generator=generator).to(device),)

    def generator_terms(self, g_out: torch.Tensor, batch: Batch, d: nn.Module) -> dict[str, torch.Tensor]:
        return {"gen": F.softplus(-d(g_out))}  # = BCE(D(G(z)), 1), per sample

    def discriminator_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module, *, fake_only: bool = False
    ) -> dict[str, torch.Tensor]:
        terms = {"fake": F.softplus(d(g_out))}  # = BCE(D(G(z)), 0)
        if not fake_only:
            terms["real"] = F.softplus(-d(batch["real"]))
        return terms

    def fake_terms(self, g_out: torch.Tensor, batch: Batch, d: nn.Module):
        logits = d(g_out)  # one D forward serves both Eq. 7 ("gen") and Eq. 8 ("fake")
        return {"gen": F.softplus(-logits)}, {"fake": F.softplus(logits)}


@FAMILIES.register("dcgan")
class DCGANFamily(Family):
    """DCGAN generator/discriminator at ``data.image_size`` with ``model.nz / ngf / ndf``."""

    name = "dcgan"

    def build(self, model: ModelCfg, data: DataCfg) -> tuple[nn.Module, nn.Module]:
        g = create_model(
            "dcgan_generator",
            **{
                "nz": model.nz,
                "ngf": model.ngf,
                "channels": data.channels,
                "image_size": data.image_size,
                **model.g_kwargs,
            },
        )
        d = create_model(
            "dcgan_discriminator",
            **{"ndf": model.ndf, "channels": data.channels, "image_size": data.image_size, **model.d_kwargs},
        )
        init_dcgan_weights(g)
        init_dcgan_weights(d)
        return g, d

    def make_loss(self, g: nn.Module, d: nn.Module) -> GanLoss:
        return DCGANLoss(nz=int(g.arch_spec["kwargs"]["nz"]))

    def init_weights(self, module: nn.Module) -> None:
        init_dcgan_weights(module)
