"""gancompress.api: guards of the compression API for generators it has never seen — non-image outputs are refused
with one clear error.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError


@pytest.mark.parametrize(
    ("out", "message"), [(lambda z: z.flatten(1), r"returned shape \(2, 64\)"), (lambda z: (z, z), "returned a tuple")]
)
def test_non_image_generators_get_one_clear_error(out, message: str) -> None:
    from gancompress import GanLoss, compress
    from gancompress.config import DataCfg, TrainCfg
    from gancompress.data import load_dataset

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, z: torch.Tensor):
            return out(self.conv(z.view(-1, 1, 8, 8)))

    class Loss(GanLoss):
        def generator_input(self, batch):
            return (torch.randn(len(batch["real"]), 64),)

        def sample_input(self, n, generator, device="cpu"):
            return (torch.randn(n, 64, generator=generator).to(device),)

        def generator_terms(self, g_out, batch, d):
            return {"gen": g_out.mean().expand(1)}

        def discriminator_terms(self, g_out, batch, d, *, fake_only=False):
            return {"fake": g_out.mean().expand(1)}

    data = load_dataset(DataCfg(name="fake", image_size=8, limit=8), "train")
    with pytest.raises(UserError, match=message):
        compress(Odd(), None, data, loss=Loss(), train=TrainCfg(steps=1, batch_size=4))
