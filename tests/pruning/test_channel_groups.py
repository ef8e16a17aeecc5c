"""gancompress.pruning.channel_groups: coupling groups across residual sums, concatenations, grouped / depthwise convs,
GroupNorm, PixelShuffle and Linear stems; the units that must go together; scores; selection; exact MACs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.pruning.channel_groups import (
    dense_layer_macs,
    find_channel_groups,
    select,
    selection_macs,
    unit_scores,
)
from tests.pruning.nets import probe

pytest.importorskip("torch_pruning")
torch.set_num_threads(1)


def _targets(model: nn.Module, exclude: str = "out") -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and n != exclude}


def _groups(model: nn.Module):
    groups, skipped = find_channel_groups(model, (torch.randn(2, 8),), _targets(model))
    return {g.root: g for g in groups}, skipped


def test_probe_groups_follow_every_coupling() -> None:
    groups, skipped = _groups(probe())
    assert skipped == {}
    roles = {root: sorted((m.name, m.role) for m in g.members) for root, g in groups.items()}
    # the residual stream: the Linear stem (viewed as 32 channels of 4×4), the grouped conv + BN and the depthwise
    # conv all produce it; c1 and c3 read it
    assert roles["dw"] == sorted(
        [("dw", "out"), ("fc", "out"), ("c2", "out"), ("bn2", "norm"), ("c1", "in"), ("c3", "in")]
    )
    # PixelShuffle: c3's 128 filters feed 32 channels read by c4 and by the concat (out's second half)
    assert roles["c3"] == [("c3", "out"), ("c4", "in"), ("out", "in")]
    assert roles["c4"] == [("c4", "out"), ("gn4", "norm"), ("out", "in")]
    fc = next(m for m in groups["dw"].members if m.name == "fc")
    assert len(fc.pairs) == 512  # 16 features of the view per channel


def test_units_keep_masked_and_shrunk_models_identical() -> None:
    groups, _ = _groups(probe())
    # PixelShuffle(2): c3's filters 4c..4c+3 make channel c → units of 4 consecutive filters
    assert groups["c3"].units[:2] == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(groups["c3"].units) == 32
    # GroupNorm(4, 32): whole groups of 8
    assert [len(u) for u in groups["c4"].units] == [8, 8, 8, 8]
    assert groups["c4"].units[1] == list(range(8, 16))
    # grouped conv (groups=4 over 32 channels): the same position in every group
    assert groups["dw"].units[0] == [0, 8, 16, 24] and len(groups["dw"].units) == 8
    # GroupNorm(8) + a grouped conv reading it whole-group-wise: both constraints, merged
    assert all(len(u) == 16 for u in groups["c1"].units)


def test_group_norm_and_grouped_conv_on_the_same_groups_stay_whole() -> None:
    class Locked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.gn = nn.Conv2d(3, 8, 1), nn.GroupNorm(2, 8)  # groups of 4 = the conv's groups
            self.b, self.out = nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.Conv2d(8, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.relu(self.b(self.gn(self.a(x)))))

    net = Locked()
    groups, skipped = find_channel_groups(net, (torch.randn(1, 3, 4, 4),), _targets(net))
    assert "a" in skipped and "all together" in skipped["a"]
    assert [g.root for g in groups] == ["b"]


def test_groups_reaching_the_output_or_an_excluded_layer_are_skipped() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3))
    x = (torch.randn(1, 3, 8, 8),)
    groups, skipped = find_channel_groups(net, x, {"0": net[0], "2": net[2]})
    assert [g.root for g in groups] == ["0"] and "output" in skipped["2"]


def test_scores_rank_by_the_criterion() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 3, 3))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([0.1, 2.0, 0.5, 1.0]))
        net[0].weight.mul_(0.0).add_(1.0)
        net[0].weight[3].mul_(10.0)
        net[3].weight.fill_(1.0)
    (g,), _ = find_channel_groups(net, (torch.randn(2, 3, 8, 8),), {"0": net[0]})
    assert torch.argsort(unit_scores(g, "bn_scale")).tolist() == [0, 2, 3, 1]
    assert torch.argmax(unit_scores(g, "l2")).item() == 3
    assert float(unit_scores(g, "l2").mean()) == pytest.approx(1.0)  # normalised by the group mean
    # Taylor reads the gradients: without them it falls back to l2
    assert torch.equal(unit_scores(g, "taylor"), unit_scores(g, "l2"))
    net(torch.randn(2, 3, 8, 8))[:, 0].sum().backward()
    assert not torch.equal(unit_scores(g, "taylor"), unit_scores(g, "l2"))
    with pytest.raises(UserError, match="unknown channel importance"):
        unit_scores(g, "magnitude_of_nothing")


@pytest.mark.parametrize("round_to", [1, 8])
def test_select_uniform_global_and_rounding(round_to: int) -> None:
    model = probe()
    groups, _ = find_channel_groups(model, (torch.randn(2, 8),), _targets(model))
    scores = [unit_scores(g, "l2") for g in groups]
    pruned = select(groups, scores, 0.5, round_to=round_to)
    for g, p in zip(groups, pruned, strict=True):
        kept = g.size - len(p)
        assert kept <= g.size // 2 + max(len(u) for u in g.units)
        assert all(set(u) <= p or not set(u) & p for u in g.units)  # whole units only
        if round_to > 1 and all(len(u) <= 8 for u in g.units):
            assert kept % round_to == 0
    glob = select(groups, scores, 0.5, scope="global", round_to=round_to)
    total = sum(g.size for g in groups)
    assert sum(len(p) for p in glob) / total == pytest.approx(0.5, abs=0.15)
    assert all(len(p) < g.size for g, p in zip(groups, glob, strict=True))  # every group keeps a unit
    with pytest.raises(UserError, match=r"\[0, 1\)"):
        select(groups, scores, 1.0)


def test_selection_macs_are_the_shrunk_models_macs() -> None:
    from gancompress.pruning.channel_masks import ChannelMaskSet
    from gancompress.pruning.physical import remove_pruned_channels

    model = probe().eval()
    x = (torch.randn(2, 8),)
    masks = ChannelMaskSet.attach(model, exclude=["out"], example_inputs=x)
    masks.update(0.5)
    small, _ = remove_pruned_channels(model, x)
    dense = dense_layer_macs(model, x)
    predicted = selection_macs(dense, dict(model.named_modules()), masks.groups, masks.pruned)
    assert predicted == sum(dense_layer_macs(small, x).values())
    assert predicted / sum(dense.values()) < 0.35  # ≥ 65 % of the MACs removed at 50 % channels
