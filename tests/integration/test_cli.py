"""The CLI through subprocess: --dry-run paths end to end, and bad inputs giving exit 2 with a one-line message."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from clirun import gancompress


def assert_bad_input(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    err_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(err_lines) == 1, proc.stderr
    for frag in fragments:
        assert frag in err_lines[0], err_lines[0]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("runs") / "teacher"
    proc = gancompress(["train", "--dry-run", "--out", str(out), "-q"], env)
    assert proc.returncode == 0, proc.stderr
    return out


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
    from gancompress.io import load_saved_tensors

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
    names = [m["name"] for m in json.loads((out / "results.json").read_text())["models"]]
    assert names == ["teacher", "oneshot_prune", "oneshot_finetune", "self_supervised", "teacher_continued"]
    proc = gancompress(["report", str(out), "-q"], env)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------------------------- bad inputs
# DESIGN.md's bad-input table, row by row: tests/integration/test_bad_inputs.py; config keys and types:
# tests/integration/test_config_cli.py.


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
