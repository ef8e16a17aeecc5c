"""docs/architecture.md bad-input row "SIGKILL mid-run, then --resume": the resumed run equals the uninterrupted one.

A tiny compression runs as a subprocess and is killed with SIGKILL once a checkpoint exists mid-way through the AGP
ramp; ``--resume`` then finishes it. Against an uninterrupted run of the same command (one CPU thread, so every
kernel is deterministic): same final step, same metrics rows, identical masks and sparsity, and weights, optimizer
moments and RNG states equal bit for bit (max abs diff 0).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from gancompress.checkpoint import load_saved_tensors
from gancompress.rundir import latest_checkpoint, load_checkpoint
from tests.clirun import ROOT, error_line, gancompress, gancompress_cmd

STEPS = 120


ARGS = [
    "--steps",
    str(STEPS),
    "--set",
    "train.batch_size=16",
    "--set",
    "train.ckpt_every=10",
    "--set",
    "train.log_every=5",
    "--set",
    "prune.update_every=3",  # AGP ramp over steps 0–60, masks recomputed every 3 steps
    "--json",
    "-q",
]


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(((a[k].double() - b[k].double()).abs().max().item() if a[k].numel() else 0.0) for k in a)


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path: Path, env: dict[str, str]) -> None:
    teacher = tmp_path / "teacher"
    proc = gancompress(["train", "--dry-run", "--out", str(teacher), "-q"], env)
    assert proc.returncode == 0, proc.stderr
    compress = ["compress", "--teacher", str(teacher), *ARGS]

    full = tmp_path / "full"
    proc = gancompress([*compress, "--out", str(full)], env)
    assert proc.returncode == 0, proc.stderr

    killed = tmp_path / "killed"
    cmd = gancompress_cmd([*compress, "--out", str(killed)])
    child = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (killed / "checkpoints" / "step_20").is_dir():
            assert child.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    last = latest_checkpoint(killed)
    assert last is not None
    killed_at = load_checkpoint(last)[1]["step"]
    assert 20 <= killed_at < STEPS, f"the kill came too late (last checkpoint step {killed_at})"
    assert not (killed / "generator.safetensors").exists()

    proc = gancompress([*compress, "--out", str(killed), "--resume"], env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    expected = json.loads((full / "compress.json").read_text())
    assert summary["steps"] == expected["steps"] == STEPS
    assert summary["sparsity"] == expected["sparsity"] == pytest.approx(0.5, abs=1e-6)

    # metrics: rows logged after the checkpoint by the killed process were dropped, not duplicated
    def rows(path: Path) -> list[dict]:
        return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]

    assert [r["step"] for r in rows(killed)] == [r["step"] for r in rows(full)] == list(range(5, STEPS + 1, 5))
    assert rows(killed) == rows(full)

    for name in ("generator", "discriminator"):
        a, b = load_saved_tensors(full / f"{name}.safetensors"), load_saved_tensors(killed / f"{name}.safetensors")
        masks = [k for k in a if k.endswith("_mask")]
        assert name == "discriminator" or masks
        assert all(torch.equal(a[k], b[k]) for k in masks), f"{name} masks differ"
        diff = max_abs_diff(a, b)
        assert diff == 0.0, f"{name} weights differ from the uninterrupted run: max abs diff {diff:g}"
    # the final checkpoints agree too: optimizer moments, RNG states, data position
    ta, ma = load_checkpoint(full / "checkpoints" / f"step_{STEPS}")
    tb, mb = load_checkpoint(killed / "checkpoints" / f"step_{STEPS}")
    assert max_abs_diff(ta, tb) == 0.0
    assert ma["loader"] == mb["loader"] and ma["target_sparsity"] == mb["target_sparsity"]


def _wait_for_step(run: Path, step: int, child: subprocess.Popen, timeout: float = 120) -> None:
    """Until the run's metrics.jsonl has logged ``step`` (log_every 5), the child still running."""
    deadline = time.monotonic() + timeout
    while True:
        log = run / "metrics.jsonl"
        if log.is_file() and any(json.loads(line)["step"] >= step for line in log.read_text().splitlines() if line):
            return
        assert child.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, f"step {step} never logged"
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_checkpoints_and_out_alone_resumes_it(tmp_path: Path, env: dict[str, str], sig: int) -> None:
    """Ctrl-C (or a TERM) mid-run: the step in progress is checkpointed, the message names the exact resume command,
    and ``--out RUN --resume`` alone (teacher, steps, config read from the run) finishes it like an uninterrupted
    run — here with ``ckpt_every`` above the run's length, so no step checkpoint could have saved it."""
    teacher = tmp_path / "teacher"
    assert gancompress(["train", "--dry-run", "--out", str(teacher), "-q"], env).returncode == 0
    args = ["compress", "--teacher", str(teacher), *ARGS, "--set", "train.ckpt_every=1000"]
    full = tmp_path / "full"
    assert gancompress([*args, "--out", str(full)], env).returncode == 0

    run = tmp_path / "stopped"
    child = subprocess.Popen(
        gancompress_cmd([*args, "--out", str(run)]), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        _wait_for_step(run, 30, child)
        child.send_signal(sig)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, err
    last = [line for line in err.splitlines() if line.strip()][-1]
    step = load_checkpoint(latest_checkpoint(run))[1]["step"]
    assert 30 <= step < STEPS
    assert last == f"interrupted at step {step}; resume with: gancompress compress --out {run} --resume", err

    proc = gancompress(["compress", "--out", str(run), "--resume", "--json", "-q"], env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["steps"] == STEPS
    a, b = load_saved_tensors(full / "generator.safetensors"), load_saved_tensors(run / "generator.safetensors")
    assert max_abs_diff(a, b) == 0.0


def test_resume_refuses_changed_flags_and_points_to_overwrite(tmp_path: Path, env: dict[str, str]) -> None:
    teacher, other = tmp_path / "teacher", tmp_path / "other"
    for t in (teacher, other):
        assert gancompress(["train", "--dry-run", "--out", str(t), "-q"], env).returncode == 0
    run = tmp_path / "run"
    base = ["compress", "--teacher", str(teacher), "--steps", "4", "--set", "train.ckpt_every=2", "--out", str(run)]
    assert gancompress([*base, "-q"], env).returncode == 0
    error_line(gancompress([*base, "--resume", "--sparsity", "0.75"], env), "prune.sparsity: 0.5 → 0.75", "--overwrite")
    error_line(
        gancompress(["compress", "--teacher", str(other), "--out", str(run), "--resume"], env),
        "--teacher", "differs from the run's recorded --teacher", str(teacher),
    )  # fmt: skip
    assert gancompress([*base, "--resume", "-q"], env).returncode == 0  # the same flags again: fine

    # a run that never reached a checkpoint: --resume says to start again with --overwrite (no circle)
    fresh = tmp_path / "fresh"
    cmd = ["compress", "--teacher", str(teacher), "--steps", "4", "--set", "train.ckpt_every=0", "--out", str(fresh)]
    assert gancompress([*cmd, "-q"], env).returncode == 0
    error_line(gancompress([*cmd, "--resume"], env), "never reached a checkpoint", "--overwrite")
    error_line(
        gancompress(["compress", "--out", str(tmp_path / "nothing"), "--resume"], env), "no run", "without --resume"
    )
