"""SRGAN family: 4× super-resolution, adversarial + pixel content loss (Ledig et al. 2017, Eq. 3).

Task (docs/method.md §6): 16 → 64 px on tiles of scikit-image's photos (``data.name = "photo_tiles"``,
data/photo_tiles.py); batches carry the HR tile as ``"real"`` and its bicubic 4× downsampling as ``"lr"``; test tiles
come from held-out photos.

Named terms: G ``{"gen": BCE(D(G(lr)), 1), "content": MSE(G(lr), hr)}`` with weights 10⁻³ and 1 (SRGAN's
perceptual loss = content + 10⁻³·adversarial). DECISION: the content loss is the pixel MSE (SRGAN's "SRGAN-MSE"
variant), not VGG features — no network download, and PSNR is the task's metric. D ``{"real", "fake"}``; Eq. 8's
fake-dependent D term is ``fake``.
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
    draw_batch,
    per_sample,
    sample_from_eval,
)
from gancompress.models.build import create_model
from gancompress.models.srgan import init_srgan_weights

log = logging.getLogger(__name__)


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return per_sample((a - b).pow(2))


class SRGANLoss(GanLoss):
    """Non-saturating GAN loss weighted 10⁻³ + pixel MSE to the HR tile; inputs = LR tiles."""

    g_weights: ClassVar[dict[str, float]] = {"gen": 1e-3, "content": 1.0}  # Ledig et al. Eq. 3
    d_weights: ClassVar[dict[str, float]] = {"real": 1.0, "fake": 1.0}

    def __init__(self, channels: int, lr_size: int, generator: nn.Module | None = None) -> None:
        self.channels, self.lr_size, self.generator = channels, lr_size, generator

    @staticmethod
    def _lr(batch: Batch) -> torch.Tensor:
        if "lr" not in batch:
            raise UserError("SRGAN needs paired LR/HR data (batch key 'lr'): use --data photo_tiles")
        return batch["lr"]

    def generator_input(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        return (self._lr(batch),)

    def eval_inputs(
        self, data: ImageDataset | None, n: int, generator: torch.Generator, device: torch.device | str
    ) -> EvalInputs:
        if data is None:
            raise UserError("SRGAN evaluation upsamples held-out LR tiles: pass the test split")
        batch = draw_batch(data, n, generator, device)
        return EvalInputs((self._lr(batch),), target=batch["real"])

    def eval_pool_size(self, data: ImageDataset) -> int | None:
        return len(data)

    def sample_input(self, n: int, generator: torch.Generator, device: torch.device | str) -> tuple[torch.Tensor, ...]:
        if self.eval_data is not None:
            return sample_from_eval(self, n, generator, device)
        return (torch.zeros(n, self.channels, self.lr_size, self.lr_size, device=device),)  # shapes only

    def generator_terms(self, g_out: torch.Tensor, batch: Batch, d: nn.Module) -> dict[str, torch.Tensor]:
        return {"gen": F.softplus(-d(g_out)), "content": _mse(g_out, batch["real"])}

    def discriminator_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module, *, fake_only: bool = False
    ) -> dict[str, torch.Tensor]:
        terms = {"fake": F.softplus(d(g_out))}
        if not fake_only:
            terms["real"] = F.softplus(-d(batch["real"]))
        return terms

    def fake_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        logits = d(g_out)  # one D forward serves Eq. 7 ("gen") and Eq. 8 ("fake")
        g_terms = {"gen": F.softplus(-logits), "content": _mse(g_out, batch["real"])}
        return g_terms, {"fake": F.softplus(logits)}


@FAMILIES.register("srgan")
class SRGANFamily(Family):
    """SRGAN G (×4) and D; ``data.image_size`` is the HR size."""

    name = "srgan"

    def build(self, model: ModelCfg, data: DataCfg) -> tuple[nn.Module, nn.Module]:
        g = create_model(
            "srgan_generator",
            **{"channels": data.channels, "ngf": model.ngf, "image_size": data.image_size, **model.g_kwargs},
        )
        d = create_model(
            "srgan_discriminator",
            **{"channels": data.channels, "ndf": model.ndf, "image_size": data.image_size, **model.d_kwargs},
        )
        init_srgan_weights(g)
        return g, d

    def make_loss(self, g: nn.Module, d: nn.Module | None) -> GanLoss:
        kwargs = g.arch_spec["kwargs"]
        scale = int(kwargs.get("scale", 4))
        return SRGANLoss(int(kwargs.get("channels", 1)), int(kwargs.get("image_size", 64)) // scale, generator=g)

    def init_weights(self, module: nn.Module) -> None:
        init_srgan_weights(module)
