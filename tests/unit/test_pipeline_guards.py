"""Guards of the compression pipeline for generators it has never seen: the output layer found by data flow (filter
pruning keeps it), and non-image outputs refused with one clear error."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError


class _LabelLast(nn.Module):
    """Conditional G whose label embedding is defined after the decoder (probe case B4): definition order would call
    the embedding the output layer and filter-prune the image head to nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.ConvTranspose2d(8, 8, 4, 2, 1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))
        self.embed = nn.Linear(3, 8 * 4 * 4)

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z + self.embed(label).view(-1, 8, 4, 4)))


def test_output_layer_is_found_by_data_flow() -> None:
    from gancompress.config import PruneCfg
    from gancompress.pipeline import keep_output_dense, prune_oneshot

    g = _LabelLast()
    x = (torch.randn(2, 8, 4, 4), torch.eye(3)[:2])
    assert keep_output_dense(g, PruneCfg(granularity="filter"), x).exclude == ("net.2",)
    assert keep_output_dense(g, PruneCfg(granularity="filter")).exclude == ("embed",)  # no inputs: definition order
    report = {r["name"]: r["sparsity"] for r in prune_oneshot(g, PruneCfg(granularity="filter"), x).sparsity}
    assert "net.2" not in report and report["embed"] == pytest.approx(0.5)


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
