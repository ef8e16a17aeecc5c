"""Models and helpers shared by the pruning tests: the ``Tiny`` masking model, the ``Custom`` coupling / physical
removal model, a small DCGAN generator, and masked training steps.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gancompress.models import create_model
from gancompress.pruning import MaskSet


class Tiny(nn.Module):
    """Linear → ConvTranspose2d → BatchNorm → Conv2d; every input size a multiple of 4 (vector/nm-friendly)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 32)
        self.up = nn.ConvTranspose2d(8, 12, 4, stride=2, padding=1)  # weight (8, 12, 4, 4): out channel = dim 1
        self.bn = nn.BatchNorm2d(12)
        self.conv = nn.Conv2d(12, 4, 3, padding=1)  # weight (4, 12, 3, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(-1, 8, 2, 2)
        return self.conv(torch.relu(self.bn(self.up(x))))


def make_model(seed: int = 0) -> Tiny:
    torch.manual_seed(seed)
    return Tiny()


LAYERS = ("fc", "up", "conv")


def units_zero(mask: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Per unit (reduced over ``dims``): True where the whole unit is zero; asserts no unit is partially zero."""
    nonzero = mask.sum(dim=dims)
    size = math.prod(mask.shape[d] for d in dims)
    assert bool(((nonzero == 0) | (nonzero == size)).all()), "a unit is partially pruned"
    return nonzero == 0


class Custom(nn.Module):
    """Conv2d(bias) → BN → ReLU → ConvTranspose2d → InstanceNorm(affine) → LeakyReLU → Conv2d → flatten → Linear…"""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.up = nn.ConvTranspose2d(16, 12, 4, stride=2, padding=1)
        self.inorm = nn.InstanceNorm2d(12, affine=True)
        self.down = nn.Conv2d(12, 8, 4, stride=4)
        self.fc = nn.Linear(8 * 4 * 4, 20)
        self.head = nn.Linear(20, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        x = nn.functional.leaky_relu(self.inorm(self.up(x)), 0.2)
        x = torch.relu(self.fc(self.down(x).flatten(1)))
        return self.head(x)


def randomise_norms(model: nn.Module) -> None:
    """Non-trivial affine parameters and running statistics, as after training."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-1.0, 1.0)
                if m.running_mean is not None:
                    m.running_mean.uniform_(-1.0, 1.0)
                    m.running_var.uniform_(0.5, 2.0)


def custom_model(seed: int = 0) -> Custom:
    torch.manual_seed(seed)
    model = Custom()
    randomise_norms(model)
    return model


def dcgan(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model("dcgan_generator", nz=16, ngf=16, channels=1, image_size=32)


def train_steps(model: nn.Module, masks: MaskSet, inputs: torch.Tensor, steps: int = 3) -> None:
    """Masked Adam steps in train mode (moves weights and BatchNorm running statistics)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model(inputs).square().mean().backward()
        masks.mask_grads()
        opt.step()
        masks.apply()


class Probe(nn.Module):
    """Every coupling the channel pruner must follow: a Linear → view stem, a residual sum over a grouped conv,
    GroupNorm (both on a plain and on a concatenated path), a depthwise conv, PixelShuffle and a U-Net-style concat."""

    def __init__(self, w: int = 32) -> None:
        super().__init__()
        self.fc = nn.Linear(8, w * 4 * 4)
        self.c1, self.gn = nn.Conv2d(w, w, 3, padding=1), nn.GroupNorm(8, w)
        self.c2, self.bn2 = nn.Conv2d(w, w, 3, padding=1, groups=4), nn.BatchNorm2d(w)
        self.dw = nn.Conv2d(w, w, 3, padding=1, groups=w)
        self.c3, self.ps = nn.Conv2d(w, w * 4, 3, padding=1), nn.PixelShuffle(2)
        self.c4, self.gn4 = nn.Conv2d(w, w, 3, padding=1), nn.GroupNorm(4, w)
        self.out = nn.Conv2d(2 * w, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], -1, 4, 4)
        h = torch.relu(self.gn(self.c1(x)))
        h = torch.relu(self.bn2(self.c2(h))) + x
        h = self.dw(h)
        p = self.ps(self.c3(h))
        q = torch.relu(self.gn4(self.c4(p)))
        return torch.tanh(self.out(torch.cat([q, p], 1)))


def probe(seed: int = 0) -> Probe:
    torch.manual_seed(seed)
    model = Probe()
    randomise_norms(model)
    return model
