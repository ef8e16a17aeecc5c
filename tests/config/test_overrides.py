"""gancompress.config.overrides: ``--set`` overrides, type coercion, TOML / JSON config files, dict round trips; every
bad key or value is a one-line ``UserError`` naming it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gancompress.config import (
    DataCfg,
    MethodCfg,
    ModelCfg,
    PruneCfg,
    RunCfg,
    TrainCfg,
    from_dict,
    load_config,
    override,
    to_dict,
)
from gancompress.errors import UserError

TRAIN_KEYS = [f.name for f in dataclasses.fields(TrainCfg)]


RUN_KEYS = [f.name for f in dataclasses.fields(RunCfg)]


# --------------------------------------------------------------------------------------------------- dataclasses


def test_to_dict_from_dict_round_trip() -> None:
    cfg = override(RunCfg(), ["data.classes=3,5", "prune.exclude=net.6", "train.steps=7", 'model.g_kwargs={"a": 1}'])
    data = to_dict(cfg)
    json.dumps(data)  # JSON-ready
    assert data["data"]["classes"] == [3, 5]
    assert from_dict(RunCfg, data) == cfg


# ------------------------------------------------------------------------------------------------------ override


def test_override_nested_keys_returns_new_config() -> None:
    base = RunCfg()
    cfg = override(base, ["prune.sparsity=0.75", "train.steps=100", "model.ngf=16", "seed=3", "device=cuda"])
    assert (cfg.prune.sparsity, cfg.train.steps, cfg.model.ngf, cfg.seed, cfg.device) == (0.75, 100, 16, 3, "cuda")
    assert base == RunCfg()  # the input is untouched
    assert cfg.prune.granularity == base.prune.granularity  # siblings keep their values
    assert cfg.train.batch_size == base.train.batch_size


def test_override_later_assignment_wins_and_spaces_are_stripped() -> None:
    cfg = override(RunCfg(), [" train.steps = 5", "train.steps=6"])
    assert cfg.train.steps == 6


@pytest.mark.parametrize(
    ("assignment", "path", "expected"),
    [
        ("train.steps=100", ("train", "steps"), 100),
        ("train.steps=1e2", ("train", "steps"), 100),
        ("train.steps=3.0", ("train", "steps"), 3),
        ("seed=-1", ("seed",), -1),
        ("train.lr_g=1e-3", ("train", "lr_g"), 1e-3),
        ("prune.sparsity=0.5", ("prune", "sparsity"), 0.5),
        ("prune.sparsity=0", ("prune", "sparsity"), 0.0),
        ("train.grad_clip=5", ("train", "grad_clip"), 5.0),
        ("data.classes=3,5", ("data", "classes"), (3, 5)),
        ("data.classes=7", ("data", "classes"), (7,)),
        ("data.classes=[1, 2]", ("data", "classes"), (1, 2)),
        ("prune.exclude=net.0,net.6", ("prune", "exclude"), ("net.0", "net.6")),
        ("prune.exclude= a , b ", ("prune", "exclude"), ("a", "b")),
        ("eval.metrics=fid", ("eval", "metrics"), ("fid",)),
        ("data.limit=None", ("data", "limit"), None),
        ("data.limit=none", ("data", "limit"), None),
        ("train.grad_clip=null", ("train", "grad_clip"), None),
        ("train.steps=None", ("train", "steps"), None),
        ("data.data_dir=None", ("data", "data_dir"), None),
        ("data.data_dir=/tmp/x", ("data", "data_dir"), "/tmp/x"),
        ('model.g_kwargs={"nz": 8}', ("model", "g_kwargs"), {"nz": 8}),
        ("data.name=fake", ("data", "name"), "fake"),
    ],
)
def test_override_type_coercion(assignment: str, path: tuple[str, ...], expected: object) -> None:
    value: object = override(RunCfg(), [assignment])
    for part in path:
        value = getattr(value, part)
    assert value == expected
    assert type(value) is type(expected)


def test_override_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(UserError) as info:
        override(RunCfg(), ["train.stepz=1"])
    msg = str(info.value)
    assert "'train.stepz'" in msg
    for key in TRAIN_KEYS:
        assert key in msg
    with pytest.raises(UserError) as info:
        override(RunCfg(), ["trian.steps=1"])
    for key in RUN_KEYS:
        assert key in str(info.value)


@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("train.batch_size=abc", "train.batch_size"),
        ("train.steps=2.5", "train.steps"),
        ("train.steps=true", "train.steps"),
        ("seed=", "seed"),
        ("train.lr_g=fast", "train.lr_g"),
        ("data.classes=a,b", "data.classes"),
        ('prune.exclude=["a", 1]', "prune.exclude"),
        ("model.g_kwargs=[1]", "model.g_kwargs"),
        ("model.g_kwargs={nope", "model.g_kwargs"),
        ("train=5", "train"),
    ],
)
def test_override_wrong_type_names_the_key(assignment: str, key: str) -> None:
    with pytest.raises(UserError, match=f"^{key}: expected"):
        override(RunCfg(), [assignment])


@pytest.mark.parametrize("value", ["inf", "nan", "1e400"])
def test_override_non_finite_int_names_the_key(value: str) -> None:
    with pytest.raises(UserError, match=r"^train\.steps: expected an integer"):
        override(RunCfg(), [f"train.steps={value}"])


def test_override_malformed_assignments() -> None:
    with pytest.raises(UserError, match="key=value"):
        override(RunCfg(), ["prune.sparsity"])
    with pytest.raises(UserError, match="'sparsity' has no sub-keys"):
        override(RunCfg(), ["prune.sparsity.x=1"])


# --------------------------------------------------------------------------------------------------------- files


TOML = """
seed = 7

[data]
name = "fake"
image_size = 16
classes = [1, 2]

[prune]
sparsity = 0.75
exclude = ["net.6"]

[train]
steps = 40
lr_g = 1e-3

[model.g_kwargs]
nz = 8
"""


def test_load_config_toml(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(TOML)
    cfg = load_config(path)
    assert cfg.seed == 7
    assert cfg.data == DataCfg(name="fake", image_size=16, classes=(1, 2))
    assert cfg.prune.sparsity == 0.75 and cfg.prune.exclude == ("net.6",)
    assert cfg.prune.schedule == PruneCfg().schedule  # keys not given keep the defaults
    assert cfg.train.steps == 40 and cfg.train.lr_g == 1e-3 and cfg.train.batch_size == TrainCfg().batch_size
    assert cfg.model.g_kwargs == {"nz": 8} and cfg.model.nz == ModelCfg().nz


def test_load_config_json(tmp_path: Path) -> None:
    path = tmp_path / "exp.json"
    path.write_text(json.dumps({"method": {"name": "oneshot_finetune", "lam": 1}, "train": {"steps": 3}}))
    cfg = load_config(path)
    assert cfg.method == MethodCfg(name="oneshot_finetune", lam=1.0)
    assert isinstance(cfg.method.lam, float)
    assert cfg.train.steps == 3


def test_load_config_written_by_to_dict_round_trips(tmp_path: Path) -> None:
    cfg = override(RunCfg(), ["data.classes=3,5", "prune.sparsity=0.9", "train.grad_clip=1.5"])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(to_dict(cfg)))
    assert load_config(path) == cfg


def test_load_config_keeps_base_values(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text("[train]\nsteps = 5\n")
    base = override(RunCfg(), ["seed=11", "prune.sparsity=0.25", 'model.g_kwargs={"nz": 4}'])
    cfg = load_config(path, base)
    assert (cfg.seed, cfg.prune.sparsity, cfg.train.steps, cfg.model.g_kwargs) == (11, 0.25, 5, {"nz": 4})


def test_load_config_kwargs_tables_are_replaced_not_merged(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text("[model.g_kwargs]\nngf = 4\n")
    base = override(RunCfg(), ['model.g_kwargs={"nz": 4}'])
    assert load_config(path, base).model.g_kwargs == {"ngf": 4}


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("bad.toml", "[train]\nstepz = 5\n", r"unknown config key 'train\.stepz'.*batch_size"),
        ("bad.toml", "[prune]\nsparsity = 1.0\n", r"sparsity must be in \[0, 1\)"),
        ("bad.toml", "[train]\nsteps = 'many'\n", "^train.steps: expected an integer"),
        ("bad.toml", "[train\nsteps = 5\n", "cannot parse config"),
        ("bad.json", '{"train": {"steps": 5}', "cannot parse config"),
        ("bad.json", '{"train": 5}', "^train: expected a table"),
    ],
)
def test_load_config_bad_files(tmp_path: Path, name: str, text: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserError, match=match):
        load_config(path)


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


# ----------------------------------------------------------------------------------------- F14: bools as numbers


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prune": {"sparsity": true}}', "prune.sparsity: expected a number, got true"),
        ('{"train": {"lr_g": false}}', "train.lr_g: expected a number, got false"),
        ('{"train": {"steps": true}}', "train.steps: expected an integer, got true"),
        ('{"model": {"ngf": true}}', "model.ngf: expected an integer, got true"),
    ],
)
def test_bool_is_not_a_number(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_config(path)


def test_numbers_still_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[prune]\nsparsity = 0.75\n[train]\nlr_g = 1\nsteps = 3\n")
    cfg = load_config(path)
    assert (cfg.prune.sparsity, cfg.train.lr_g, cfg.train.steps) == (0.75, 1.0, 3)


PROFILED = """
[model]
ngf = 8
ndf = 16

[train]
steps = 100

[profile.wide.model]
ngf = 32

[profile.wide.train]
steps = 900
"""


def test_load_config_applies_a_named_profile_table_and_ignores_it_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "teacher.toml"
    path.write_text(PROFILED)
    plain, wide = load_config(path), load_config(path, profile="wide")
    assert (plain.model.ngf, plain.model.ndf, plain.train.steps) == (8, 16, 100)
    assert (wide.model.ngf, wide.model.ndf, wide.train.steps) == (32, 16, 900)  # keys it does not name are kept
    with pytest.raises(UserError, match=r"no \[profile.quick\] table \(profiles it defines: wide\)"):
        load_config(path, profile="quick")


def test_load_config_refuses_an_unknown_profile_table(tmp_path: Path) -> None:
    path = tmp_path / "teacher.toml"
    path.write_text("[profile.huge.model]\nngf = 512\n")
    with pytest.raises(UserError, match="unknown profile 'huge'"):
        load_config(path)
    path.write_text("[profile]\nwide = 3\n")
    with pytest.raises(UserError, match=r"one table per profile"):
        load_config(path)
