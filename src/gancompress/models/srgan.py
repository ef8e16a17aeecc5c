"""SRGAN (Ledig et al. 2017): residual super-resolution generator with sub-pixel upsampling, VGG-style D.

Scaled for a CPU: ``n_blocks`` residual blocks (SRGAN: 16) of width ``ngf`` (SRGAN: 64). Upsampling by 2 per stage:
conv to 4× channels + ``PixelShuffle(2)`` + PReLU (one shared slope, so pruning a channel leaves the activation
alone). No in-place activations (torch-pruning's tracing breaks on them).

Example:
    >>> g = SRGANGenerator(channels=1, ngf=8, n_blocks=1, scale=4)
    >>> d = SRGANDiscriminator(channels=1, ndf=8, image_size=64)
    >>> y = g(torch.randn(2, 1, 16, 16))
    >>> tuple(y.shape), tuple(d(y).shape)
    ((2, 1, 64, 64), (2,))
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gancompress.errors import UserError
from gancompress.models.build import MODELS


class SRResidualBlock(nn.Module):
    """x + BN(conv(PReLU(BN(conv(x))))) (Ledig et al. Fig. 4)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.PReLU(),
            nn.Conv2d(width, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@MODELS.register("srgan_generator")
class SRGANGenerator(nn.Module):
    """LR image (B, C, s, s) → SR image (B, C, scale·s, scale·s) in [-1, 1]. ``image_size`` records the HR training
    size (the net is fully convolutional).

    ``bicubic_skip`` (default on): the network predicts a residual over the bicubic upsampling of its input, clamped
    to [-1, 1] (VDSR, Kim et al. 2016); off: SRGAN's plain tanh output. DECISION: SRGAN trains for 10⁵+ steps; at
    the few hundred CPU steps of our teachers the plain network is still below bicubic PSNR, the residual form starts
    at bicubic quality and learns only the missing detail. Everything the pruner sees (convs, BN, PReLU, shuffle)
    is unchanged.
    """

    def __init__(
        self,
        channels: int = 1,
        ngf: int = 32,
        n_blocks: int = 4,
        scale: int = 4,
        image_size: int = 64,
        bicubic_skip: bool = True,
    ) -> None:
        super().__init__()
        stages = int(math.log2(scale))
        if scale < 2 or 2**stages != scale:
            raise UserError(f"SRGAN scale must be a power of two >= 2, got {scale}")
        self.scale, self.image_size, self.bicubic_skip = scale, int(image_size), bool(bicubic_skip)
        self.head = nn.Sequential(nn.Conv2d(channels, ngf, 9, 1, 4), nn.PReLU())
        self.blocks = nn.Sequential(
            *[SRResidualBlock(ngf) for _ in range(n_blocks)],
            nn.Conv2d(ngf, ngf, 3, 1, 1, bias=False),
            nn.BatchNorm2d(ngf),
        )
        up: list[nn.Module] = []
        for _ in range(stages):
            up += [nn.Conv2d(ngf, 4 * ngf, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU()]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Sequential(nn.Conv2d(ngf, channels, 9, 1, 4), nn.Identity() if self.bicubic_skip else nn.Tanh())

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        h = self.head(lr)
        out = self.tail(self.upsample(h + self.blocks(h)))  # global skip over the residual trunk
        if not self.bicubic_skip:
            return out
        base = F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return (base + out).clamp(-1.0, 1.0)


@MODELS.register("srgan_discriminator")
class SRGANDiscriminator(nn.Module):
    """HR image → one real/fake logit per image, shape (B,): VGG-style strided convs, then a small dense head.

    Widths ndf, ndf, 2ndf, 2ndf, 4ndf, 4ndf, 8ndf, 8ndf with stride 2 on every second conv (Ledig et al. Fig. 4);
    DECISION: the dense 1024 layer is a 1×1 convolution (``head_width``) applied before global average pooling, so D
    works at any size divisible by 16.
    """

    def __init__(self, channels: int = 1, ndf: int = 16, image_size: int = 64, head_width: int = 128) -> None:
        super().__init__()
        if image_size % 16:
            raise UserError(f"SRGAN D: image_size must be divisible by 16, got {image_size}")
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 3, 1, 1), nn.LeakyReLU(0.2)]
        width = ndf
        for i in range(7):
            new = ndf * 2 ** ((i + 1) // 2)
            stride = 2 if i % 2 == 0 else 1
            layers += [nn.Conv2d(width, new, 3, stride, 1, bias=False), nn.BatchNorm2d(new), nn.LeakyReLU(0.2)]
            width = new
        layers += [nn.Conv2d(width, head_width, 1), nn.LeakyReLU(0.2), nn.Conv2d(head_width, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean(dim=(1, 2, 3))


def icnr_(conv: nn.Conv2d, upscale: int = 2) -> None:
    """ICNR initialisation (Aitken et al. 2017) of a conv feeding ``PixelShuffle(upscale)``: the r² sub-pixel
    kernels of every output channel start equal, so the layer begins as conv + nearest-neighbour upsampling, free of
    the checkerboard artefacts of a random sub-pixel init."""
    r2 = upscale**2
    sub = torch.empty(conv.out_channels // r2, *conv.weight.shape[1:])
    nn.init.kaiming_normal_(sub, nonlinearity="relu")
    with torch.no_grad():
        conv.weight.copy_(sub.repeat_interleave(r2, dim=0))
        if conv.bias is not None:
            conv.bias.zero_()


def init_srgan_weights(module: nn.Module) -> None:
    """PyTorch's default init everywhere, ICNR for the convolutions in front of a ``PixelShuffle``, and a residual
    zero-initialised residual output layer (``bicubic_skip``: the untrained generator is exactly bicubic)."""
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    for m in module.modules():
        if isinstance(m, nn.Sequential):
            for conv, shuffle in zip(m, list(m)[1:], strict=False):
                if isinstance(conv, nn.Conv2d) and isinstance(shuffle, nn.PixelShuffle):
                    icnr_(conv, shuffle.upscale_factor)
    if getattr(module, "bicubic_skip", False):  # start as plain bicubic: zero residual (ReZero-style)
        nn.init.zeros_(module.tail[0].weight)
        nn.init.zeros_(module.tail[0].bias)
