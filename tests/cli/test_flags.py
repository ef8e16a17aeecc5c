"""Config files (TOML / YAML / JSON) and ``--set`` through the CLI, and the provenance every run directory records.

Every run (train, compress, prune) writes ``config.json`` (the resolved config: defaults ← file ← flags ← --set) and
``env.json`` (versions, git SHA, seed, device, threads); bad keys and types are exit-2 one-liners. Successful runs go
through a subprocess; bad configs fail before any work, so they call ``cli.main`` in-process (same exit code and
stderr, without a Python start-up per case).
"""

from __future__ import annotations

import json
import subprocess
from functools import partial
from pathlib import Path

import pytest

from tests.clirun import ROOT, gancompress

TOML = """
seed = 7
[data]
name = "fake"
image_size = 16
[model]
nz = 16
ngf = 8
ndf = 8
[train]
steps = 5
batch_size = 8
lr_g = 1e-4
[prune]
sparsity = 0.25
"""


YAML = """
seed: 7
data: {name: fake, image_size: 16}
model: {nz: 16, ngf: 8, ndf: 8}
train:
  steps: 5
  batch_size: 8
  lr_g: 1e-4   # PyYAML reads this as a string; the config coerces it to the annotated float
prune:
  sparsity: 0.25
"""


run = partial(gancompress, quiet=True)  # every CLI call here ends in -q


def git_sha() -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return proc.stdout.strip() or None


def assert_provenance(run_dir: Path, seed: int) -> dict:
    cfg = json.loads((run_dir / "config.json").read_text())
    assert set(cfg) >= {"data", "model", "prune", "method", "train", "eval", "seed", "device"}
    assert cfg["seed"] == seed
    info = json.loads((run_dir / "env.json").read_text())
    assert info["seed"] == seed
    for key in ("gancompress", "python", "torch", "numpy", "platform", "device", "threads", "world_size"):
        assert info[key] not in (None, ""), key
    assert info["git_sha"] == git_sha()
    return cfg


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_config_file_and_set_overrides_are_resolved_into_the_run(
    tmp_path: Path, env: dict[str, str], suffix: str
) -> None:
    path = tmp_path / f"run{suffix}"
    if suffix == ".yaml":
        pytest.importorskip("yaml")
        path.write_text(YAML)
    elif suffix == ".toml":
        path.write_text(TOML)
    else:
        import tomllib

        path.write_text(json.dumps(tomllib.loads(TOML)))
    out = tmp_path / "teacher"
    overrides = ["--set", "train.steps=3", "--set", "model.ngf=4"]
    proc = run(["train", "--config", str(path), *overrides, "--out", str(out)], env)
    assert proc.returncode == 0, proc.stderr
    cfg = assert_provenance(out, seed=7)
    assert cfg["data"] == {**cfg["data"], "name": "fake", "image_size": 16}
    assert cfg["train"]["steps"] == 3 and cfg["train"]["batch_size"] == 8 and cfg["train"]["lr_g"] == 1e-4
    assert cfg["model"]["ngf"] == 4 and cfg["model"]["ndf"] == 8  # --set wins over the file, the rest is the file's
    assert cfg["prune"]["sparsity"] == 0.25
    assert json.loads((out / "generator.json").read_text())["kwargs"]["ngf"] == 4  # the run used it

    if suffix != ".toml":
        return
    comp = tmp_path / "comp"
    proc = run(["compress", "--teacher", str(out), "--steps", "2", "--seed", "11", "--out", str(comp)], env)
    assert proc.returncode == 0, proc.stderr
    assert assert_provenance(comp, seed=11)["data"]["image_size"] == 16  # the teacher's data config
    pruned = tmp_path / "pruned"
    proc = run(["prune", "--teacher", str(out), "--sparsity", "0.5", "--seed", "12", "--out", str(pruned)], env)
    assert proc.returncode == 0, proc.stderr
    assert assert_provenance(pruned, seed=12)["prune"]["sparsity"] == 0.5


@pytest.mark.parametrize(
    ("suffix", "text", "fragments"),
    [
        (".toml", "[train]\nstepz = 5\n", ["unknown config key 'train.stepz'", "steps", "batch_size", "run.toml"]),
        (".toml", "[trian]\nsteps = 5\n", ["unknown config key 'trian'", "train", "prune"]),
        (".toml", "[train]\nsteps = 'many'\n", ["train.steps: expected an integer", "'many'"]),
        (".toml", "[prune]\nsparsity = 'half'\n", ["prune.sparsity: expected a number", "'half'"]),
        (".toml", "[train\n", ["cannot parse config"]),
        (".yaml", "train:\n  steps: [1, 2\n", ["cannot parse config"]),
        (".yaml", "train:\n  batch_size: lots\n", ["train.batch_size: expected an integer", "'lots'"]),
        (".yaml", "- just\n- a list\n", ["expected a table of sections"]),
    ],
)
def test_bad_config_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, text: str, fragments: list[str]
) -> None:
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    out = tmp_path / "x"
    assert_bad_input(["train", "--config", str(path), "--out", str(out), "-q"], capsys, fragments)
    assert not out.exists()


def assert_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str], fragments: list[str]) -> None:
    from gancompress.cli.main import main

    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    ("assignment", "fragments"),
    [
        ("train.stepz=3", ["unknown config key 'train.stepz'", "steps", "batch_size"]),
        ("nope=1", ["unknown config key 'nope'", "data", "model", "seed"]),
        ("train.steps=3.5", ["train.steps: expected an integer", "'3.5'"]),
        ("train.lr_g=fast", ["train.lr_g: expected a number", "'fast'"]),
        ("model.g_kwargs={bad", ["model.g_kwargs: expected a JSON object"]),
        ("seed", ["--set expects key=value"]),
    ],
)
def test_bad_set_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], assignment: str, fragments: list[str]
) -> None:
    out = tmp_path / "x"
    assert_bad_input(["train", "--dry-run", "--set", assignment, "--out", str(out), "-q"], capsys, fragments)
    assert not out.exists()
