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


# ------------------------------------------------------------- registry names checked by the API, not only the CLI
@pytest.fixture(scope="module")
def tiny_gan():
    import gancompress as gc

    cfg = gc.RunCfg(data=gc.DataCfg(name="fake", image_size=16), model=gc.ModelCfg(nz=8, ngf=8, ndf=8))
    g, d = gc.get_family("dcgan").build(cfg.model, cfg.data)
    return g, d, gc.load_dataset(gc.DataCfg(name="fake", image_size=16, limit=64), "train")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "nope"}, "unknown method 'nope'; valid values: adversarial_distill"),
        ({"family": "nope"}, "unknown family 'nope'; valid values: cyclegan, dcgan"),
        ({"prune": {"granularity": "nope"}}, "unknown granularity 'nope'; valid values: channel, element, filter"),
        ({"prune": {"importance": "nope"}}, "unknown importance 'nope'; valid values: bn_scale, l2"),
        ({"prune": {"schedule": "nope"}}, "unknown schedule 'nope'; valid values: agp, one_shot"),
        ({"prune": {"importance": "bn_scale"}}, "use it with granularity filter"),
    ],
    ids=["method", "family", "granularity", "importance", "schedule", "bn_scale-on-element"],
)
def test_compress_refuses_unknown_names_listing_the_valid_ones(tiny_gan, kwargs, message: str) -> None:
    import gancompress as gc

    g, d, data = tiny_gan
    before = {k: v.clone() for k, v in g.state_dict().items()}
    if "prune" in kwargs:
        kwargs = {"prune": gc.PruneCfg(**kwargs["prune"])}
    with pytest.raises(UserError, match=message):
        gc.compress(g, d, data, train=gc.TrainCfg(steps=1), **kwargs)
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())  # G_O untouched


@pytest.mark.parametrize("prune", [{"granularity": "nope"}, {"importance": "nope"}])
def test_prune_oneshot_refuses_unknown_names(tiny_gan, prune) -> None:
    import gancompress as gc

    with pytest.raises(UserError, match=r"unknown (granularity|importance) 'nope'; valid values"):
        gc.prune_oneshot(tiny_gan[0], gc.PruneCfg(**prune))
