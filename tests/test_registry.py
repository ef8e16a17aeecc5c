"""gancompress.registry and the built-in registries: "did you mean" suggestions and the list of valid values."""

from __future__ import annotations

import pytest

import gancompress as gc
from gancompress.config import (
    DataCfg,
    MethodCfg,
    ModelCfg,
    PruneCfg,
    TrainCfg,
)
from gancompress.errors import UserError
from gancompress.families import FAMILIES, get_family
from gancompress.methods import METHODS, create_method
from gancompress.pruning import SCHEDULES, MaskSet, make_granularity, sparsity_at
from gancompress.registry import Registry

# ------------------------------------------------------------------------------------------------------ registry


def test_registry_did_you_mean() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("element", 1)
    reg.add("filter", 2)
    assert reg.get("filter") == 2
    with pytest.raises(UserError) as info:
        reg.get("elemnt")
    msg = str(info.value)
    assert msg == "unknown widget 'elemnt'; valid values: element, filter. Did you mean 'element'?"
    with pytest.raises(UserError) as info:
        reg.get("zzzzzz")
    assert "Did you mean" not in str(info.value) and "valid values: element, filter" in str(info.value)


def test_registry_basics() -> None:
    reg: Registry[str] = Registry("thing")

    @reg.register("b")
    def b() -> str:
        return "b"

    reg.add("a", "A")
    assert reg.names() == ["a", "b"] and list(reg) == ["a", "b"] and len(reg) == 2
    assert "a" in reg and "c" not in reg
    assert reg.get("b") is b
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", "again")


@pytest.mark.parametrize(
    ("lookup", "typo", "suggestion", "valid"),
    [
        (METHODS.get, "self_supervisd", "self_supervised", METHODS.names()),
        (lambda name: create_method(MethodCfg(name=name)), "oneshot_finetuen", "oneshot_finetune", METHODS.names()),
        (get_family, "dcgna", "dcgan", FAMILIES.names()),
        (make_granularity, "elemnt", "element", None),
        (lambda name: sparsity_at(PruneCfg(schedule=name), 0, 10), "one-shot", "one_shot", SCHEDULES.names()),
    ],
)
def test_builtin_registries_suggest_and_list(lookup, typo: str, suggestion: str, valid: list[str] | None) -> None:
    with pytest.raises(UserError) as info:
        lookup(typo)
    msg = str(info.value)
    assert repr(typo) in msg
    assert f"Did you mean {suggestion!r}?" in msg
    for name in valid or [suggestion]:
        assert name in msg


def test_compress_with_unknown_method_lists_valid_values() -> None:
    g, d = gc.get_family("dcgan").build(ModelCfg(nz=16, ngf=8, ndf=8), DataCfg(name="fake", image_size=16))
    data = gc.load_dataset(DataCfg(name="fake", image_size=16), "test")
    with pytest.raises(UserError, match=r"unknown method 'selfsupervised'.*self_supervised"):
        gc.compress(g, d, data, method="selfsupervised", train=TrainCfg(steps=1, batch_size=8))
    with pytest.raises(UserError, match=r"unknown granularity 'elements'.*element"):
        MaskSet.attach(g, granularity="elements")
