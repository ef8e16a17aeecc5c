"""pix2pix family: paired image-to-image translation, conditional GAN + L1 (Isola et al. 2017, Eq. 4).

Task (docs/method.md §6): edges → item on Fashion-MNIST (``data.name = "fashion_mnist_edges"``, data/paired.py): batches
carry the target image as ``"real"`` and its edge map as ``"source"``.

Named terms: G ``{"gen", "l1"}`` with λ_L1 = 100; D ``{"real", "fake"}`` with weight ½ each (pix2pix halves D's
objective to slow D relative to G). In Eq. 7 both G terms enter with those weights (the L1-to-target term is the
paper's "L1-to-target (pix2pix)"); Eq. 8's fake-dependent D term is ``fake``.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gancompress.config import DataCfg, ModelCfg
from gancompress.data import ImageDataset
from gancompress.errors import UserError
from gancompress.families.contract import (
    FAMILIES,
    Batch,
    EvalInputs,
    Family,
    GanLoss,
    SourceImageLoss,
    draw_batch,
    per_sample,
)
from gancompress.models.build import create_model
from gancompress.models.pix2pix import init_pix2pix_weights

log = logging.getLogger(__name__)


class Pix2PixLoss(SourceImageLoss):
    """Non-saturating conditional GAN loss on PatchGAN logits + λ·L1 to the paired target; inputs = source images."""

    g_weights: ClassVar[dict[str, float]] = {"gen": 1.0, "l1": 100.0}  # λ = 100 (Isola et al. §4)
    d_weights: ClassVar[dict[str, float]] = {"real": 0.5, "fake": 0.5}  # D's loss ÷ 2 (Isola et al. §3.3)

    missing_source = (
        "pix2pix needs paired data with source images (batch key 'source'): use a '<base>_edges' dataset, "
        "e.g. --data fashion_mnist_edges"
    )
    placeholder = "blank edge maps"

    def __init__(self, source_channels: int, image_size: int, generator: nn.Module | None = None) -> None:
        self.source_channels, self.image_size, self.generator = source_channels, image_size, generator

    def eval_inputs(
        self, data: ImageDataset | None, n: int, generator: torch.Generator, device: torch.device | str
    ) -> EvalInputs:
        if data is None:
            raise UserError("pix2pix evaluation draws source images from held-out data: pass the test split")
        batch = draw_batch(data, n, generator, device)
        return EvalInputs((self._source(batch),), target=batch["real"])

    def placeholder_source(self, n: int, device: torch.device | str) -> torch.Tensor:
        return -torch.ones(n, self.source_channels, self.image_size, self.image_size, device=device)

    def generator_terms(self, g_out: torch.Tensor, batch: Batch, d: nn.Module) -> dict[str, torch.Tensor]:
        logits = d(g_out, self._source(batch))
        return {"gen": per_sample(F.softplus(-logits)), "l1": per_sample((g_out - batch["real"]).abs())}

    def discriminator_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module, *, fake_only: bool = False
    ) -> dict[str, torch.Tensor]:
        source = self._source(batch)
        terms = {"fake": per_sample(F.softplus(d(g_out, source)))}  # = BCE(D(x, G(x)), 0) per patch, averaged
        if not fake_only:
            terms["real"] = per_sample(F.softplus(-d(batch["real"], source)))
        return terms

    def fake_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        logits = d(g_out, self._source(batch))  # one D forward serves Eq. 7 ("gen") and Eq. 8 ("fake")
        l1 = per_sample((g_out - batch["real"]).abs())
        return {"gen": per_sample(F.softplus(-logits)), "l1": l1}, {"fake": per_sample(F.softplus(logits))}

    def discriminator_scores(self, d: nn.Module, images: torch.Tensor, batch: Batch) -> torch.Tensor:
        return per_sample(d(images, self._source(batch)))


@FAMILIES.register("pix2pix")
class Pix2PixFamily(Family):
    """U-Net G (1-channel edge maps → ``data.channels`` images) and conditional PatchGAN D at ``data.image_size``."""

    name = "pix2pix"

    def build(self, model: ModelCfg, data: DataCfg) -> tuple[nn.Module, nn.Module]:
        g = create_model(
            "unet_generator",
            **{
                "in_channels": 1,
                "out_channels": data.channels,
                "ngf": model.ngf,
                "image_size": data.image_size,
                **model.g_kwargs,
            },
        )
        d = create_model(
            "patch_discriminator", **{"in_channels": 1, "channels": data.channels, "ndf": model.ndf, **model.d_kwargs}
        )
        init_pix2pix_weights(g)
        init_pix2pix_weights(d)
        return g, d

    def make_loss(self, g: nn.Module, d: nn.Module | None) -> GanLoss:
        kwargs = g.arch_spec["kwargs"]
        return Pix2PixLoss(int(kwargs.get("in_channels", 1)), int(kwargs.get("image_size", 32)), generator=g)

    def init_weights(self, module: nn.Module) -> None:
        init_pix2pix_weights(module)
