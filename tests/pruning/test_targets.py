"""gancompress.pruning.targets: the output layer filter pruning keeps dense is found by data flow."""

from __future__ import annotations

import pytest
import torch
from torch import nn


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
    from gancompress.api import prune_oneshot
    from gancompress.config import PruneCfg
    from gancompress.pruning.targets import keep_output_dense

    g = _LabelLast()
    x = (torch.randn(2, 8, 4, 4), torch.eye(3)[:2])
    assert keep_output_dense(g, PruneCfg(granularity="filter"), x).exclude == ("net.2",)
    assert keep_output_dense(g, PruneCfg(granularity="filter")).exclude == ("embed",)  # no inputs: definition order
    report = {r["name"]: r["sparsity"] for r in prune_oneshot(g, PruneCfg(granularity="filter"), x).sparsity}
    assert "net.2" not in report and report["embed"] == pytest.approx(0.5)
