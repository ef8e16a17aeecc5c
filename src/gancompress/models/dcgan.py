"""DCGAN (Radford et al. 2016) for 32 or 64 px images, the paper's MNIST synthesis family (Table 2, first row).

No in-place activations: torch-pruning's graph tracing (physical channel removal) breaks on them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.models.build import MODELS


def _num_upsamplings(image_size: int) -> int:
    n = int(math.log2(image_size)) - 2
    if image_size < 16 or 2 ** (n + 2) != image_size:
        raise UserError(f"DCGAN image_size must be a power of two >= 16, got {image_size}")
    return n


@MODELS.register("dcgan_generator")
class DCGANGenerator(nn.Module):
    """z (B, nz) → image (B, channels, image_size, image_size) in [-1, 1].

    Example:
        >>> g = DCGANGenerator(nz=16, ngf=8, channels=1, image_size=32)
        >>> g(torch.randn(2, 16)).shape
        torch.Size([2, 1, 32, 32])
    """

    def __init__(self, nz: int = 64, ngf: int = 32, channels: int = 1, image_size: int = 32) -> None:
        super().__init__()
        self.nz = nz
        n_up = _num_upsamplings(image_size)
        width = ngf * 2 ** (n_up - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


@MODELS.register("dcgan_discriminator")
class DCGANDiscriminator(nn.Module):
    """image → one real/fake logit per image, shape (B,)."""

    def __init__(self, ndf: int = 32, channels: int = 1, image_size: int = 32) -> None:
        super().__init__()
        n_down = _num_upsamplings(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        width = ndf
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN's N(0, 0.02) initialisation (Radford et al. 2016, §4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
