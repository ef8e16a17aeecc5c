"""The CLI (cli/main.py): --dry-run paths end to end through a subprocess, and bad values giving exit 2 with a
one-line message — in-process through ``cli.main`` (fast) or through ``python -m gancompress`` (the whole path: exit
2, one ``error:`` line, no traceback).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gancompress.cli import main as cli
from gancompress.config import load_config
from gancompress.errors import UserError
from tests.clirun import (
    error_line,  # the shared subprocess helper of the CLI tests
    gancompress,
    train_dry_run,
)


def assert_bad_input(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    err_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(err_lines) == 1, proc.stderr
    for frag in fragments:
        assert frag in err_lines[0], err_lines[0]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    return train_dry_run(tmp_path_factory.mktemp("runs") / "teacher", env)


def test_help_and_version(env: dict[str, str]) -> None:
    proc = gancompress(["--help"], env)
    assert proc.returncode == 0
    for cmd in ("train", "prune", "compress", "evaluate", "report", "demo"):
        assert cmd in proc.stdout
    assert gancompress(["--version"], env).stdout.strip()


def test_train_dry_run_writes_run_dir(teacher: Path) -> None:
    for name in (
        "config.json",
        "env.json",
        "metrics.jsonl",
        "generator.safetensors",
        "generator.json",
        "discriminator.safetensors",
        "discriminator.json",
    ):
        assert (teacher / name).is_file(), name
    assert any((teacher / "checkpoints").glob("step_*"))
    assert json.loads((teacher / "generator.json").read_text())["arch"] == "dcgan_generator"
    env_info = json.loads((teacher / "env.json").read_text())
    assert {"torch", "seed", "git_sha", "threads"} <= set(env_info)


def test_compress_dry_run_and_evaluate(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "comp"
    proc = gancompress(["compress", "--teacher", str(teacher), "--dry-run", "--out", str(out), "--json", "-q"], env)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["method"] == "self_supervised"
    assert payload["sparsity"] == pytest.approx(0.5, abs=1e-6)
    from gancompress.checkpoint import load_saved_tensors

    state = load_saved_tensors(out / "generator.safetensors")  # masks decoded (save_module packs / derives them)
    masks = [v for k, v in state.items() if k.endswith("weight_mask")]
    assert masks and sum(int(m.sum()) for m in masks) == pytest.approx(0.5 * sum(m.numel() for m in masks), abs=2)
    proc = gancompress(["evaluate", str(out), "--num-samples", "64", "--json", "-q", "--data", "fake"], env)
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(proc.stdout)[str(out)]
    assert scores["fid"] >= 0 and scores["num_samples"] == 64
    assert "fidelity_psnr" in scores  # the teacher recorded in compress.json is found
    assert (out / "eval.json").is_file()
    # "same quality?": the teacher scored beside it by the same evaluator, and the ratios
    assert scores["teacher"]["num_samples"] == 64 and scores["ratios"]["fid"] == pytest.approx(
        scores["fid"] / scores["teacher"]["fid"]
    )
    proc = gancompress(["evaluate", str(out), "--num-samples", "64", "-q", "--data", "fake"], env)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("| run ") and "fid ÷ teacher" in lines[0] and lines[2].startswith("| teacher ")
    # a report of this single run: the teacher beside the student, curves, sizes
    proc = gancompress(["report", str(out), "-q"], env)
    assert proc.returncode == 0, proc.stderr
    md = (out / "report.md").read_text()
    assert "| teacher |" in md and f"| {out.name} |" in md and "FID / ref" in md and "file" in md
    assert (out / "report.html").is_file() and not (out / "results.json").exists()


def test_compress_evaluate_prints_the_teacher_row(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "comp"
    proc = gancompress(["compress", "--teacher", str(teacher), "--dry-run", "--out", str(out), "--evaluate", "-q"], env)
    assert proc.returncode == 0, proc.stderr
    assert "| teacher " in proc.stdout and "fid ÷ teacher" in proc.stdout
    saved = json.loads((out / "eval.json").read_text())
    assert saved["teacher"]["fid"] > 0 and saved["ratios"]["fid"] == pytest.approx(
        saved["fid"] / saved["teacher"]["fid"]
    )


def test_report_of_a_missing_run_says_so(tmp_path: Path, env: dict[str, str]) -> None:
    proc = gancompress(["report", str(tmp_path / "nope")], env)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "evaluate" not in proc.stderr


def test_prune_prints_per_layer_sparsity(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    proc = gancompress(
        [
            "prune",
            "--teacher",
            str(teacher),
            "--sparsity",
            "0.75",
            "--granularity",
            "filter",
            "--set",
            "prune.exclude=net.9",
            "--out",
            str(tmp_path / "p"),
            "-q",
        ],
        env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| layer |" in proc.stdout and "75.00%" in proc.stdout and "net.9" not in proc.stdout.split("overall")[0]


def test_demo_dry_run_writes_report(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "demo"
    proc = gancompress(["demo", "--dry-run", "--out", str(out)], env)
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.md").is_file() and (out / "report.html").is_file() and (out / "results.json").is_file()
    assert str(out / "report.md") in proc.stdout
    models = json.loads((out / "results.json").read_text())["models"]
    names = [m["name"] for m in models]
    channel = models[-1]["metrics"]  # physically shrunk to about a quarter of the MACs, and timed
    assert channel["mac_fraction"] < 0.3 and channel["cpu_speedup"] > 0 and models[0]["metrics"]["cpu_speedup"] == 1.0
    assert names == [
        "teacher", "oneshot_prune", "oneshot_finetune", "self_supervised", "teacher_continued", "channel_compressed",
    ]  # fmt: skip
    proc = gancompress(["report", str(out), "-q"], env)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------------------------------- bad inputs


def test_evaluate_without_config_needs_data(teacher: Path, tmp_path: Path, env: dict[str, str]) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("generator.json", "generator.safetensors"):
        (bare / name).write_bytes((teacher / name).read_bytes())
    assert_bad_input(gancompress(["evaluate", str(bare)], env), "no config.json", "--data")
    proc = gancompress(
        ["evaluate", str(bare), "--data", "fake", "--num-samples", "32", "--seeds", "2", "--json", "-q"], env
    )
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(proc.stdout)[str(bare)]
    assert scores["seeds"] == [0, 1] and len(scores["fid_values"]) == 2 and scores["fid_ci95"] > 0


def main_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``cli.main(argv)`` in-process: asserts exit 2 and returns the error line."""
    assert cli.main([*argv, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


# --------------------------------------------------------------------------------------------- F9: train options


def test_cli_bad_learning_rate_is_exit_2(plain_env: dict[str, str], tmp_path: Path) -> None:
    proc = gancompress(
        ["train", "--dry-run", "--set", "train.lr_g=-1", "--out", str(tmp_path / "x")], plain_env, quiet=True
    )
    error_line(proc, "train.lr_g must be a finite number > 0")
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------ F10/F11: model, data, eval sizes


def test_cli_num_samples_and_seeds_checked_even_under_dry_run(
    plain_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    # --dry-run replaces eval.num_samples by 64, but a 0 the user typed is still refused
    proc = gancompress(["evaluate", "--dry-run", "--num-samples", "0", str(run)], plain_env, quiet=True)
    error_line(proc, "eval.num_samples must be a positive integer")
    assert "--seeds must be >= 1, got 0" in main_error(["evaluate", "--dry-run", "--seeds", "0", str(run)], capsys)
    assert "got -2" in main_error(["evaluate", "--dry-run", "--seeds", "-2", str(run)], capsys)


# --------------------------------------------------------------------------- F7: a run config.json not an object


def test_run_config_list_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "config.json").write_text("[1, 2]")
    err = main_error(["evaluate", "--dry-run", str(teacher)], capsys)
    assert "expected a JSON object, got list" in err
    err = main_error(["prune", "--dry-run", "--teacher", str(teacher), "--out", str(tmp_path / "p")], capsys)
    assert "corrupt run config" in err and not (tmp_path / "p").exists()


# --------------------------------------------------------------------- F14: --model / --config not regular files


def test_model_and_config_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, folder = str(tmp_path / "o"), tmp_path / "folder"
    folder.mkdir()
    err = main_error(["compress", "--dry-run", "--model", f"{folder}/:build", "--out", out], capsys)
    assert f"{folder} is a directory; give a Python file" in err
    err = main_error(["train", "--dry-run", "--config", str(folder), "--out", out], capsys)
    assert f"config {folder} is a directory" in err
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_cli_config_dev_zero(plain_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = gancompress(["train", "--dry-run", "--config", "/dev/zero", "--out", str(out)], plain_env, quiet=True)
    error_line(proc, "config /dev/zero is not a regular file")  # not read forever, not "not found"
    assert not out.exists()
