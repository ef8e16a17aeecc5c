"""CycleGAN (Zhu et al. 2017): ResNet generator, unconditional PatchGAN, and the two-direction pairs (Table 2 rows).

Two constraints come from physical channel removal (torch-pruning's graph tracing, pruning/physical.py):

- InstanceNorm is ``affine=True, track_running_stats=False``: the affine γ/β are what a filter mask couples to, and
  running statistics would make eval-mode outputs differ from the traced train-mode graph;
- no in-place ReLU after a norm: an in-place op hides the norm's output tensor from the tracer.

Convolutions feeding an InstanceNorm have no bias (DECISION: the norm subtracts every per-channel constant, so such a
bias is dead weight that pruning would still count). Upsampling is ``ConvTranspose2d`` as in the reference code.

The teacher is one module per role holding both directions — :class:`CycleGenerators` (``g_ab``, ``g_ba``) and
:class:`CycleDiscriminators` (``d_a`` judges domain-A images, ``d_b`` domain B) — so it trains in the single loop and
saves / loads through the same safetensors + arch JSON path as every family. Each inner generator is itself built by
``create_model`` and records its ``direction``, so a compressed single-direction generator still knows it.

Example:
    >>> g = create_model("cycle_generators", channels=1, ngf=4, n_blocks=1)
    >>> d = create_model("cycle_discriminators", channels=1, ndf=4)
    >>> y = g(torch.randn(2, 1, 32, 32))
    >>> tuple(y.shape), tuple(d.d_b(y).shape), g.g_ba.arch_spec["kwargs"]["direction"]
    ((2, 1, 32, 32), (2, 1, 6, 6), 'b2a')
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gancompress.config import DIRECTIONS
from gancompress.errors import UserError
from gancompress.models.build import MODELS, create_model


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class ResidualBlock(nn.Module):
    """x + [reflect-pad, conv3×3, IN, ReLU, reflect-pad, conv3×3, IN](x) (Zhu et al. App. 7.2, "R" blocks)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            _norm(channels),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@MODELS.register("resnet_generator")
class ResnetGenerator(nn.Module):
    """image (B, C, S, S) → image (B, C, S, S) in [-1, 1]; S divisible by 4.

    c7s1-ngf, d(2·ngf), d(4·ngf), ``n_blocks`` × R(4·ngf), u(2·ngf), u(ngf), c7s1-C + tanh (Zhu et al. App. 7.2; the
    reference uses 6 blocks at 128 px and 9 at 256 px — DECISION: 3 by default at 32 px, where the 8×8 bottleneck
    already sees the whole item). ``direction`` (``a2b``/``b2a``) and ``image_size`` are only recorded: a saved
    generator knows which translation it performs and the size of its blank tracing inputs (it is fully convolutional).
    """

    def __init__(
        self, channels: int = 1, ngf: int = 16, n_blocks: int = 3, direction: str = "a2b", image_size: int = 32
    ) -> None:
        super().__init__()
        if direction not in DIRECTIONS:
            raise UserError(f"unknown direction {direction!r}; valid values: {', '.join(DIRECTIONS)}")
        if n_blocks < 0 or ngf < 1:
            raise UserError(f"resnet_generator needs ngf >= 1 and n_blocks >= 0, got ngf={ngf}, n_blocks={n_blocks}")
        self.direction, self.image_size = direction, int(image_size)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels, ngf, 7, bias=False),
            _norm(ngf),
            nn.ReLU(),
        ]
        width = ngf
        for _ in range(2):  # two stride-2 downsamplings
            layers += [nn.Conv2d(width, 2 * width, 3, 2, 1, bias=False), _norm(2 * width), nn.ReLU()]
            width *= 2
        layers += [ResidualBlock(width) for _ in range(n_blocks)]
        for _ in range(2):  # ConvTranspose2d upsampling, as in the reference implementation
            layers += [
                nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1, bias=False),
                _norm(width // 2),
                nn.ReLU(),
            ]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise UserError(f"resnet_generator needs image sides divisible by 4, got {tuple(x.shape[-2:])}")
        return self.net(x)


@MODELS.register("cycle_patch_discriminator")
class CyclePatchDiscriminator(nn.Module):
    """Unconditional PatchGAN: image → one real/fake score per overlapping patch, shape (B, 1, h, w).

    C(ndf) without norm, then ``n_layers`` convolutions with InstanceNorm and LeakyReLU(0.2) (stride 2 except the
    last), then a 1-channel convolution (Zhu et al. App. 7.2: 70×70 patches at 256 px; ``n_layers = 2`` gives a
    6×6 grid of 22×22-pixel patches at 32 px, as pix2pix's D here).
    """

    def __init__(self, channels: int = 1, ndf: int = 16, n_layers: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = ndf
        for i in range(1, n_layers + 1):
            new = ndf * min(2**i, 8)
            layers += [nn.Conv2d(width, new, 4, 2 if i < n_layers else 1, 1, bias=False), _norm(new), nn.LeakyReLU(0.2)]
            width = new
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


@MODELS.register("cycle_generators")
class CycleGenerators(nn.Module):
    """The teacher's two generators: ``g_ab`` (A → B) and ``g_ba`` (B → A), each a ``resnet_generator``.

    ``forward(a)`` = ``g_ab(a)``: what sample grids show and what the single training loop passes to the loss as
    ``g_out``; the loss applies ``g_ba`` itself (families/cyclegan.py). A compression / evaluation run works on one
    of the two, chosen by ``CycleGANFamily.select``.

    ``batch_direction``: how the training batches were laid out (``DataCfg.direction`` at build time): the teacher
    loss reads domain A from a batch's ``"source"`` for ``a2b`` and from ``"real"`` for ``b2a``, so ``g_ab`` always
    translates A → B whichever direction the teacher was trained with.
    """

    def __init__(
        self, channels: int = 1, ngf: int = 16, n_blocks: int = 3, batch_direction: str = "a2b", **kwargs: Any
    ) -> None:
        super().__init__()
        if batch_direction not in DIRECTIONS:
            raise UserError(f"unknown batch_direction {batch_direction!r}; valid values: {', '.join(DIRECTIONS)}")
        self.batch_direction = batch_direction
        spec = {"channels": channels, "ngf": ngf, "n_blocks": n_blocks, **kwargs}
        self.g_ab = create_model("resnet_generator", **spec, direction="a2b")
        self.g_ba = create_model("resnet_generator", **spec, direction="b2a")

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.g_ab(a)

    def direction(self, direction: str) -> nn.Module:
        """The generator translating ``direction`` (``a2b`` → ``g_ab``)."""
        return self.g_ab if direction == "a2b" else self.g_ba


@MODELS.register("cycle_discriminators")
class CycleDiscriminators(nn.Module):
    """The teacher's two discriminators: ``d_a`` judges domain-A images (G_BA's outputs), ``d_b`` domain B.

    ``forward(image)`` = ``d_b(image)``: the judge of :class:`CycleGenerators`'s ``forward`` outputs.
    """

    def __init__(self, channels: int = 1, ndf: int = 16, **kwargs: Any) -> None:
        super().__init__()
        self.d_a = create_model("cycle_patch_discriminator", channels=channels, ndf=ndf, **kwargs)
        self.d_b = create_model("cycle_patch_discriminator", channels=channels, ndf=ndf, **kwargs)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.d_b(image)

    def target(self, direction: str) -> nn.Module:
        """The discriminator of ``direction``'s *target* domain (``a2b`` → ``d_b``, which judges B images)."""
        return self.d_b if direction == "a2b" else self.d_a


def init_cyclegan_weights(module: nn.Module) -> None:
    """CycleGAN's ``init_type=normal``: convolutions N(0, 0.02), zero biases; InstanceNorm γ = 1, β = 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.InstanceNorm2d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
