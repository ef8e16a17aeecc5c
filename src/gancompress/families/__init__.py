"""GAN families: architectures + named loss terms + input sampling, created by name from ``FAMILIES``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from torch import nn

from gancompress.config import DataCfg, ModelCfg
from gancompress.families.base import Batch, EvalInputs, GanLoss, describe, draw_batch, weighted_sum
from gancompress.registry import Registry

if TYPE_CHECKING:
    from gancompress.config import RunCfg


class Family(ABC):
    """How to build a family's G and D from configs, and its :class:`GanLoss`."""

    name: str = ""

    @abstractmethod
    def build(self, model: ModelCfg, data: DataCfg) -> tuple[nn.Module, nn.Module]:
        """Freshly initialised (generator, discriminator)."""

    @abstractmethod
    def make_loss(self, g: nn.Module, d: nn.Module) -> GanLoss:
        """The loss object for this pair (reads sizes such as ``nz`` from ``g.arch_spec``)."""

    def select(self, g: nn.Module, d: nn.Module | None, cfg: RunCfg) -> tuple[nn.Module, nn.Module | None, GanLoss]:
        """What one compression / evaluation run works on: (generator, its discriminator, loss) of a trained pair.

        Default: the pair as it is. A family whose teacher holds several generators (CycleGAN: G_AB, G_BA and
        D_A, D_B) returns the one selected by ``cfg`` (one translation direction) with the matching D and a loss
        whose extra terms may use the others frozen (the cycle term through the teacher's reverse generator).
        """
        return g, d, self.make_loss(g, d)

    def init_weights(self, module: nn.Module) -> None:
        """Re-initialise ``module`` as at the start of teacher training (rows from random init)."""
        for m in module.modules():
            if hasattr(m, "reset_parameters") and m is not module:
                m.reset_parameters()


FAMILIES: Registry[type[Family]] = Registry("family")


def get_family(name: str) -> Family:
    """Instantiate the registered family ``name`` (UserError listing valid names otherwise)."""
    return FAMILIES.get(name)()


from gancompress.families import cyclegan, dcgan, pix2pix, srgan, stargan  # noqa: E402,F401  (registers built-in families)

__all__ = [
    "FAMILIES",
    "Batch",
    "EvalInputs",
    "Family",
    "GanLoss",
    "describe",
    "draw_batch",
    "get_family",
    "weighted_sum",
]
