"""StarGAN (Choi et al. 2018): one generator for all domains, D with a critic and a domain-classifier head.

The paper's Table 1 family. Scaled to 32 px grayscale: two down-samplings and ``n_res`` residual blocks (StarGAN: 6 at
128 px). InstanceNorm layers have ``affine=True`` and ``track_running_stats=False`` (train and eval behave alike; no
running buffers for pruning to keep consistent), and no activation is in-place (torch-pruning's tracing breaks on
them).

Example:
    >>> g = StarGANGenerator(channels=1, num_domains=3, ngf=8, n_res=1)
    >>> d = StarGANDiscriminator(channels=1, num_domains=3, ndf=8, image_size=32)
    >>> y = g(torch.randn(2, 1, 32, 32), torch.eye(3)[[0, 2]])
    >>> src, cls = d(y)
    >>> tuple(y.shape), tuple(src.shape), tuple(cls.shape)
    ((2, 1, 32, 32), (2, 16), (2, 3))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.models.build import MODELS


def _norm(width: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(width, affine=True, track_running_stats=False)


class ResidualBlock(nn.Module):
    """x + IN(conv(ReLU(IN(conv(x))))) — StarGAN's bottleneck block (no activation after the addition)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, 1, 1, bias=False),
            _norm(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1, bias=False),
            _norm(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@MODELS.register("stargan_generator")
class StarGANGenerator(nn.Module):
    """(image (B, C, S, S), target domain one-hot (B, K)) → translated image (B, C, S, S) in [-1, 1].

    The one-hot is broadcast to K constant channels and concatenated with the image (Choi et al. §3.1).
    ``domain_labels`` records which dataset label each one-hot position means (default ``0..K-1``) and
    ``image_size`` the training resolution (the net is fully convolutional), so a saved generator knows its domains
    and input shape without the training config.
    """

    def __init__(
        self,
        channels: int = 1,
        num_domains: int = 3,
        ngf: int = 32,
        n_down: int = 2,
        n_res: int = 3,
        domain_labels: Sequence[int] | None = None,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        if num_domains < 2:
            raise UserError(f"StarGAN needs at least 2 domains, got {num_domains}")
        labels = list(range(num_domains)) if domain_labels is None else [int(c) for c in domain_labels]
        if len(labels) != num_domains or len(set(labels)) != num_domains:
            raise UserError(f"domain_labels {labels} must be {num_domains} distinct labels")
        self.num_domains = num_domains
        self.domain_labels = tuple(labels)
        self.image_size = int(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels + num_domains, ngf, 7, 1, 3, bias=False), _norm(ngf), nn.ReLU()]
        width = ngf
        for _ in range(n_down):
            layers += [nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), _norm(2 * width), nn.ReLU()]
            width *= 2
        layers += [ResidualBlock(width) for _ in range(n_res)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), _norm(width // 2), nn.ReLU()]
            width //= 2
        layers += [nn.Conv2d(width, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        c = c.to(x.dtype).view(x.shape[0], -1, 1, 1).expand(-1, -1, x.shape[2], x.shape[3])
        return self.net(torch.cat([x, c], dim=1))


@MODELS.register("stargan_discriminator")
class StarGANDiscriminator(nn.Module):
    """image → (critic scores per patch (B, P), domain logits (B, K)).

    ``n_layers`` stride-2 convolutions with LeakyReLU(0.01) and no normalisation (WGAN-GP's gradient penalty is per
    sample, so no batch statistics); a 3×3 critic head (D_src, a PatchGAN map) and a domain head whose kernel covers
    the whole remaining map (D_cls).
    """

    def __init__(
        self, channels: int = 1, num_domains: int = 3, ndf: int = 32, image_size: int = 32, n_layers: int = 3
    ) -> None:
        super().__init__()
        side = image_size // 2**n_layers
        if side < 1 or side * 2**n_layers != image_size:
            raise UserError(f"StarGAN D: image_size {image_size} must be divisible by 2**n_layers = {2**n_layers}")
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.01)]
        width = ndf
        for _ in range(n_layers - 1):
            layers += [nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.01)]
            width *= 2
        self.main = nn.Sequential(*layers)
        self.src = nn.Conv2d(width, 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(width, num_domains, side, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        return self.src(h).flatten(1), self.cls(h).flatten(1)
