"""experiments/variants.py: a variant of self_supervised is a set of config changes."""

from __future__ import annotations

import pytest

from gancompress.config import MethodCfg, PruneCfg, TrainCfg
from gancompress.errors import UserError
from gancompress.experiments.variants import VARIANTS, apply_variant, check_variants, variant_method

# --------------------------------------------------------------------------------------------- Table 1 constants


def test_variants_are_config_changes() -> None:
    m, p, t = apply_variant("anchor1_lrd5e-5", MethodCfg(lam=0.25), PruneCfg(sparsity=0.75), TrainCfg(lr_g=1e-3))
    assert (m.name, m.anchor, m.lam, p.sparsity, t.lr_d, t.lr_g) == ("self_supervised", 1.0, 0.25, 0.75, 5e-5, 1e-3)
    m, p, _ = apply_variant("continued", MethodCfg(), PruneCfg(), TrainCfg())
    assert (m.name, p.sparsity) == ("oneshot_finetune", 0.0)
    assert variant_method("sample") == "self_supervised" and variant_method("continued") == "oneshot_finetune"
    assert check_variants(["sample", " squared", "sample", ""]) == ["sample", "squared"]
    with pytest.raises(UserError, match="valid values: paper"):
        check_variants(["bogus"])
    assert {"sample", "squared", "anchor1", "lrd5e-5"} <= set(VARIANTS)
