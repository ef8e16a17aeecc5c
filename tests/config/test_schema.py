"""gancompress.config.schema: the run configuration dataclasses are frozen and keyword-only, and every value is
checked when a config is built (sparsity, train options, sizes), so a bad value never reaches torch.
"""

from __future__ import annotations

import dataclasses

import pytest

from gancompress.config import (
    DataCfg,
    EvalCfg,
    MethodCfg,
    ModelCfg,
    PruneCfg,
    RunCfg,
    TrainCfg,
    override,
)
from gancompress.errors import UserError

# --------------------------------------------------------------------------------------------------- dataclasses


def test_configs_are_frozen_and_keyword_only() -> None:
    cfg = RunCfg()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        PruneCfg("element")  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------------ override


@pytest.mark.parametrize("value", ["1", "1.0", "1.5", "-0.1", "-1e-9", "nan"])
def test_sparsity_outside_unit_interval(value: str) -> None:
    with pytest.raises(UserError, match=r"sparsity must be in \[0, 1\)"):
        override(RunCfg(), [f"prune.sparsity={value}"])
    with pytest.raises(UserError, match=r"sparsity must be in \[0, 1\)"):
        PruneCfg(sparsity=float(value))


@pytest.mark.parametrize("value", ["0", "0.999"])
def test_sparsity_inside_unit_interval(value: str) -> None:
    assert override(RunCfg(), [f"prune.sparsity={value}"]).prune.sparsity == float(value)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: PruneCfg(initial_sparsity=1.0), "initial_sparsity"),
        (lambda: PruneCfg(ramp_fraction=0.0), "ramp_fraction"),
        (lambda: PruneCfg(update_every=0), "update_every"),
        (lambda: TrainCfg(steps=0), "train.steps"),
        (lambda: TrainCfg(batch_size=0), "train.batch_size"),
        (lambda: MethodCfg(reduction="mean"), "batch, sample"),
        (lambda: MethodCfg(distance="l2"), "abs, squared"),
    ],
)
def test_post_init_validation(make, match: str) -> None:
    with pytest.raises(UserError, match=match):
        make()


# --------------------------------------------------------------------------------------------- F9: train options


@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("train.lr_g=-1", "train.lr_g"),
        ("train.lr_g=nan", "train.lr_g"),
        ("train.lr_d=0", "train.lr_d"),
        ("train.lr_d=inf", "train.lr_d"),
        ("train.beta1=2", "train.beta1"),
        ("train.beta2=1", "train.beta2"),
        ("train.beta2=-0.1", "train.beta2"),
        ("train.grad_clip=0", "train.grad_clip"),
        ("train.grad_clip=nan", "train.grad_clip"),
        ("train.budget_fraction=0", "train.budget_fraction"),
        ("train.budget_fraction=inf", "train.budget_fraction"),
        ("train.log_every=0", "train.log_every"),
        ("train.ckpt_every=-1", "train.ckpt_every"),
        ("train.sample_every=-5", "train.sample_every"),
        ("train.eval_every=-1", "train.eval_every"),
        ("train.ema=1", "train.ema"),
        ("train.ema=-0.1", "train.ema"),
        ("train.ema=nan", "train.ema"),
    ],
)
def test_bad_train_values(assignment: str, key: str) -> None:
    with pytest.raises(UserError, match=rf"^{key} must be"):
        override(RunCfg(), [assignment])


def test_good_train_values() -> None:
    cfg = override(RunCfg(), ["train.lr_g=2e-4", "train.beta1=0", "train.grad_clip=5", "train.ckpt_every=0"]).train
    assert (cfg.lr_g, cfg.beta1, cfg.grad_clip, cfg.ckpt_every) == (2e-4, 0.0, 5.0, 0)
    assert override(RunCfg(), ["train.grad_clip=None"]).train.grad_clip is None
    assert TrainCfg(budget_fraction=2.0, eval_every=0, sample_every=0).budget_fraction == 2.0


# ------------------------------------------------------------------------------ F10/F11: model, data, eval sizes


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda: ModelCfg(ngf=-1), "model.ngf"),
        (lambda: ModelCfg(ngf=0), "model.ngf"),
        (lambda: ModelCfg(nz=0), "model.nz"),
        (lambda: ModelCfg(ndf=-2), "model.ndf"),
        (lambda: ModelCfg(ngf=True), "model.ngf"),
        (lambda: ModelCfg(nz=8.5), "model.nz"),
        (lambda: DataCfg(channels=2), "data.channels"),
        (lambda: DataCfg(channels=0), "data.channels"),
        (lambda: DataCfg(channels=True), "data.channels"),
        (lambda: DataCfg(image_size=0), "data.image_size"),
        (lambda: DataCfg(limit=0), "data.limit"),
        (lambda: EvalCfg(num_samples=0), "eval.num_samples"),
        (lambda: EvalCfg(seeds=-1), "eval.seeds"),
        (lambda: EvalCfg(batch_size=0), "eval.batch_size"),
    ],
)
def test_bad_sizes(make, key: str) -> None:
    with pytest.raises(UserError, match=rf"^{key} must be"):
        make()


def test_good_sizes_and_override_of_model_width() -> None:
    assert ModelCfg(nz=16, ngf=8, ndf=8).ngf == 8
    assert DataCfg(channels=3, image_size=16, limit=5).channels == 3
    assert EvalCfg(num_samples=1, seeds=3).seeds == 3
    assert override(RunCfg(), ["model.ngf=8"]).model.ngf == 8
    with pytest.raises(UserError, match=r"^model\.ngf must be a positive integer, got -1"):
        override(RunCfg(), ["model.ngf=-1"])


# ---------------------------------------------------------------------------------------- recovery options


@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("method.bn_reestimate=-1", "method.bn_reestimate"),
        ("method.feature_distill=-1", "method.feature_distill"),
        ("method.feature_distill=nan", "method.feature_distill"),
        ("method.d_feature=inf", "method.d_feature"),
    ],
)
def test_bad_recovery_values(assignment: str, key: str) -> None:
    with pytest.raises(UserError, match=rf"^{key} must be"):
        override(RunCfg(), [assignment])


def test_recovery_options_default_off_and_are_set_with_set() -> None:
    cfg = RunCfg()
    assert (cfg.method.bn_reestimate, cfg.method.feature_distill, cfg.method.d_feature, cfg.train.ema) == (0, 0, 0, 0)
    sets = ["method.bn_reestimate=4", "method.feature_distill=0.5", "method.d_feature=2", "train.ema=0.999"]
    cfg = override(cfg, sets)
    assert (cfg.method.bn_reestimate, cfg.method.feature_distill, cfg.method.d_feature) == (4, 0.5, 2.0)
    assert cfg.train.ema == 0.999
    for value in (1.5, True):  # what --set refuses as "not an integer" the dataclass refuses too
        with pytest.raises(UserError, match=r"^method\.bn_reestimate must be an integer >= 0"):
            MethodCfg(bn_reestimate=value)
