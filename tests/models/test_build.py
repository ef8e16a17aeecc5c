"""gancompress.models.build: bad arch specs are one-line UserErrors (types, ranges, unknown names), huge widths are
refused before anything is allocated, and every registered architecture builds reproducibly.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.models import MAX_PARAMS, MODELS, create_model, create_model_from_spec

SPEC = {"nz": 16, "ngf": 8, "channels": 1, "image_size": 32}


def tiny() -> nn.Module:
    return create_model("dcgan_generator", **SPEC)


# ------------------------------------------------------------------------------------------------ F4: arch specs


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ({"arch": "dcgan_generator", "kwargs": [1, 2]}, "'kwargs' must be an object"),
        ({"arch": "dcgan_generator", "kwargs": "ngf=8"}, "'kwargs' must be an object"),
        ({"arch": ["dcgan_generator"], "kwargs": {}}, "'arch' must be a string"),
        ({"kwargs": {}}, "needs an 'arch' entry|with an 'arch' entry"),
        ([1, 2], "with an 'arch' entry"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": "8"}}, "ngf must be a whole number, got str"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": 8.5}}, "ngf must be a whole number, got float"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": True}}, "ngf must be a whole number, got bool"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": None}}, "ngf must be a whole number, got NoneType"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": float("nan")}}, "ngf must be a whole number"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": -8}}, "ngf must be between 1 and"),
        ({"arch": "dcgan_generator", "kwargs": {"ngf": 0}}, "ngf must be between 1 and"),
        ({"arch": "dcgan_generator", "kwargs": {"bogus": 1}}, "unknown argument 'bogus' for dcgan_generator"),
        ({"arch": "resnet_generator", "kwargs": {"n_blocks": -1}}, "n_blocks must be between 0 and"),
        ({"arch": "unet_generator", "kwargs": {"dropout": "x"}}, "cannot build unet_generator from"),
        ({"arch": "nope", "kwargs": {}}, "unknown model architecture 'nope'"),
    ],
)
def test_bad_arch_spec_is_a_user_error(spec: object, phrase: str) -> None:
    with pytest.raises(UserError, match=phrase):
        create_model_from_spec(spec, "g.json")


def test_integral_float_width_and_valid_specs_build() -> None:
    g = create_model("dcgan_generator", **{**SPEC, "ngf": 8.0})  # JSON 8e0
    assert g.arch_spec == {"arch": "dcgan_generator", "kwargs": SPEC}
    assert isinstance(g.arch_spec["kwargs"]["ngf"], int)
    assert create_model("resnet_generator", channels=1, ngf=4, n_blocks=0).arch_spec["kwargs"]["n_blocks"] == 0
    g2 = create_model_from_spec({"arch": "dcgan_generator", "kwargs": SPEC}, "g.json")
    assert g2.arch_spec == tiny().arch_spec == {"arch": "dcgan_generator", "kwargs": SPEC}
    assert g2(torch.randn(2, 16)).shape == (2, 1, 32, 32)


# ----------------------------------------------------------------------------------------------- F5: huge widths


def test_huge_width_is_refused_before_allocating() -> None:
    with pytest.raises(UserError, match=r"dcgan_generator .* would have [\d,]+ parameters .*check the widths"):
        create_model("dcgan_generator", nz=16, ngf=60_000, channels=1, image_size=32)  # ~5.8e11 elements
    with pytest.raises(UserError, match="ngf must be between 1 and"):
        create_model("dcgan_generator", ngf=1e9)


def test_every_registered_architecture_still_builds_and_is_reproducible() -> None:
    for name in MODELS.names():
        torch.manual_seed(0)
        built = create_model(name)
        torch.manual_seed(0)
        direct = MODELS.get(name)()  # the meta dry build must not consume the RNG
        a, b = built.state_dict(), direct.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
        assert built.arch_spec == {"arch": name, "kwargs": {}}
        assert sum(p.numel() for p in built.parameters()) < MAX_PARAMS


def test_meta_build_works_with_weight_parametrizations() -> None:
    with torch.device("meta"):
        layers = [
            nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 8, 3)),
            nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 8, 3)),
        ]
    assert all(p.is_meta for m in layers for p in m.parameters())
