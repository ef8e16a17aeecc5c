"""gancompress.pruning.channel_spec: a physically smaller generator is saved, rebuilt from its JSON and loaded; bad
specs are refused.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.checkpoint import load_module, save_module
from gancompress.errors import UserError
from gancompress.files import read_json
from gancompress.pruning import MaskSet, count_parameters
from gancompress.pruning.physical import apply_channel_spec, channel_spec, remove_pruned_channels
from tests.pruning.nets import custom_model, dcgan, train_steps

pytest.importorskip("torch_pruning")


torch.set_num_threads(1)


# --------------------------------------------------------------------------------------------- channel spec + io


def test_save_load_rebuilds_smaller_generator(tmp_path) -> None:
    g = dcgan()
    z = torch.randn(4, 16)
    masks = MaskSet.attach(g, granularity="filter", exclude=["net.9"])
    masks.update(0.5)
    train_steps(g, masks, z)
    small, _ = remove_pruned_channels(g.eval(), (z[:2],))
    save_module(small, tmp_path, "generator")
    meta = read_json(tmp_path / "generator.json")
    assert meta["channel_spec"]["net.3"] == {"type": "ConvTranspose2d", "in": 32, "out": 16}
    assert meta["masked_layers"] == []
    loaded = load_module(tmp_path, "generator").eval()
    assert channel_spec(loaded) == channel_spec(small)
    assert count_parameters(loaded) == count_parameters(small)
    with torch.no_grad():
        assert torch.equal(loaded(z), small.eval()(z))
    # and it saves again (still marked as physically pruned)
    save_module(loaded, tmp_path / "again", "generator")
    assert read_json(tmp_path / "again" / "generator.json")["channel_spec"] == meta["channel_spec"]
    # an unpruned module writes no channel_spec
    save_module(dcgan(), tmp_path / "dense", "generator")
    assert "channel_spec" not in read_json(tmp_path / "dense" / "generator.json")


def test_apply_channel_spec_keeps_layer_config() -> None:
    model = custom_model()
    spec = channel_spec(model)
    spec["conv"]["out"] = spec["bn"]["num_features"] = spec["up"]["in"] = 5
    spec["fc"]["out"] = spec["head"]["in"] = 7
    fresh = apply_channel_spec(custom_model(seed=1), spec)
    assert tuple(fresh.conv.weight.shape) == (5, 3, 3, 3) and fresh.conv.bias.shape == (5,)
    assert tuple(fresh.up.weight.shape) == (5, 12, 4, 4)  # ConvTranspose2d: (in, out, k, k)
    assert fresh.bn.running_mean.shape == (5,) and fresh.bn.eps == model.bn.eps
    assert (fresh.up.stride, fresh.up.padding) == (model.up.stride, model.up.padding)
    assert tuple(fresh.head.weight.shape) == (5, 7) and fresh.fc.bias.shape == (7,)
    assert fresh(torch.randn(1, 3, 8, 8)).shape == (1, 5)
    assert fresh.channel_spec == spec


def test_apply_channel_spec_bad_spec() -> None:
    with pytest.raises(UserError, match=r"'nope'.*does not have"):
        apply_channel_spec(custom_model(), {"nope": {"type": "Conv2d", "in": 1, "out": 1}})
    with pytest.raises(UserError, match="does not fit layer type Conv2d"):
        apply_channel_spec(custom_model(), {"conv": {"type": "Linear", "in": 3, "out": 4}})
    with pytest.raises(UserError, match="malformed"):
        apply_channel_spec(custom_model(), {"conv": {"type": "Conv2d", "in": "x"}})


def test_srgan_filter_pruning_keeps_subpixel_convs_dense_and_removes_channels_exactly() -> None:
    """PixelShuffle regroups channels in r² blocks: the convs feeding it stay dense, the rest shrink with parity."""
    from gancompress.config import DataCfg, ModelCfg, PruneCfg
    from gancompress.families import get_family
    from gancompress.pruning.targets import keep_output_dense

    torch.manual_seed(0)
    fam = get_family("srgan")
    model = ModelCfg(family="srgan", ngf=8, ndf=4, g_kwargs={"n_blocks": 1}, d_kwargs={"head_width": 8})
    g, d = fam.build(model, DataCfg(name="fake_sr", image_size=16))
    x = fam.make_loss(g, d).sample_input(2, torch.Generator().manual_seed(0), "cpu")
    prune = keep_output_dense(g, PruneCfg(granularity="filter", sparsity=0.5))
    assert set(prune.exclude) == {"upsample.0", "upsample.3", "tail.0"}
    masks = MaskSet.attach(g, exclude=prune.exclude, granularity="filter", example_inputs=x)
    masks.update(0.5)
    g.eval()
    small, report = remove_pruned_channels(g, x)
    assert report["removed"]["blocks.0.body.0"] == 4  # inside the residual block: half its filters
    assert count_parameters(small) < count_parameters(g)
    with torch.no_grad():
        assert float((small(*x) - g(*x)).abs().max()) <= 1e-5


def test_spectral_norm_layers_are_kept_whole_with_the_reason() -> None:
    torch.manual_seed(0)
    sn = nn.utils.parametrizations.spectral_norm
    net = nn.Sequential(sn(nn.Conv2d(3, 8, 3, padding=1)), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    net.append(nn.Conv2d(8, 3, 1))
    MaskSet.attach(net, granularity="filter", exclude=["4"]).update(0.5)
    _, report = remove_pruned_channels(net.eval(), (torch.randn(2, 3, 8, 8),))
    assert "parametrized weight" in report["skipped"]["0"] and report["removed"] == {"2": 4}
    assert report["max_abs_diff"] <= 1e-4
