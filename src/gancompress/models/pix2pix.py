"""pix2pix (Isola et al. 2017): U-Net generator and conditional PatchGAN discriminator (Table 2, pix2pix rows).

Written as flat lists of blocks instead of the reference code's recursive ``UnetSkipConnectionBlock`` so the data flow
reads in one place. No in-place activations: torch-pruning's graph tracing (physical channel removal) breaks on them.

Example:
    >>> g = UNetGenerator(in_channels=1, out_channels=1, ngf=8, image_size=32)
    >>> d = PatchDiscriminator(in_channels=1, channels=1, ndf=8)
    >>> y = g(torch.randn(2, 1, 32, 32))
    >>> tuple(y.shape), tuple(d(y, torch.randn(2, 1, 32, 32)).shape)
    ((2, 1, 32, 32), (2, 1, 6, 6))
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.models.build import MODELS


@MODELS.register("unet_generator")
class UNetGenerator(nn.Module):
    """source (B, in_channels, S, S) → image (B, out_channels, S, S) in [-1, 1]; S a power of two.

    ``num_downs`` stride-2 encoder convolutions (default log2(S): down to 1×1, as pix2pix's 8 downs at 256 px) with
    widths ``ngf · min(2^i, max_mult)``; the decoder mirrors them and concatenates the encoder feature of the same
    size (skip connections). BatchNorm everywhere except the outermost layers and the innermost encoder layer.
    ``dropout`` > 0 adds pix2pix's decoder dropout (its only noise source); DECISION: 0 by default — Isola et al.
    report the network largely ignores the noise, and a deterministic G makes teacher/student fidelity exact.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        ngf: int = 32,
        image_size: int = 32,
        num_downs: int | None = None,
        max_mult: int = 8,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        n = int(num_downs) if num_downs is not None else int(math.log2(image_size))
        if image_size < 4 or 2 ** int(math.log2(image_size)) != image_size:
            raise UserError(f"U-Net image_size must be a power of two >= 4, got {image_size}")
        if not 2 <= n <= int(math.log2(image_size)):
            raise UserError(f"U-Net num_downs must be in 2..{int(math.log2(image_size))} for {image_size} px, got {n}")
        widths = [ngf * min(2**i, max_mult) for i in range(n)]
        self.down = nn.ModuleList()
        for i in range(n):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(in_channels if i == 0 else widths[i - 1], widths[i], 4, 2, 1, bias=i in (0, n - 1)))
            if 0 < i < n - 1:
                layers.append(nn.BatchNorm2d(widths[i]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(n)):
            c_in = widths[i] if i == n - 1 else 2 * widths[i]  # decoder input = previous decoder output ⊕ skip
            layers = [nn.ReLU()]
            if i == 0:
                layers += [nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                layers += [nn.ConvTranspose2d(c_in, widths[i - 1], 4, 2, 1, bias=False), nn.BatchNorm2d(widths[i - 1])]
                if dropout > 0 and i >= n - 3:  # pix2pix: dropout in the three innermost decoder blocks
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        skips = []
        x = source
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = skips.pop()  # the innermost feature has no skip partner
        for j, block in enumerate(self.up):
            if j > 0:
                x = torch.cat([x, skips.pop()], dim=1)
            x = block(x)
        return x


@MODELS.register("patch_discriminator")
class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (image, source) → one real/fake logit per overlapping patch, shape (B, 1, h, w).

    D sees the source concatenated with the image (Isola et al. §3.1: the conditional GAN judges the *pair*).
    ``n_layers`` stride-2 convolutions (pix2pix's default 3 gives 70×70 patches at 256 px; 2 suits 32 px images: a
    6×6 grid of 22×22-pixel patches), then two stride-1 convolutions.
    """

    def __init__(self, in_channels: int = 1, channels: int = 1, ndf: int = 32, n_layers: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels + channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = ndf
        for i in range(1, n_layers + 1):
            new = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(width, new, 4, stride, 1, bias=False), nn.BatchNorm2d(new), nn.LeakyReLU(0.2)]
            width = new
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([source, image], dim=1))


def init_pix2pix_weights(module: nn.Module) -> None:
    """pix2pix's N(0, 0.02) initialisation of convolutions and N(1, 0.02) of BatchNorm scales (``init_type=normal``)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
