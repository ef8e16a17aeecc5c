"""Replay a new user's first-hour mistakes against the CLI and show that none of them loses work.

Scenarios (each through `python -m gancompress` in a subprocess, in a fresh temporary directory):

1. ``compress --teacher T --out T --overwrite``: refused; the teacher's files are untouched.
2. Ctrl-C at 30 % of a default compress (10 % of the teacher's steps), then ``--out RUN --resume`` alone.
3. ``kill -9`` mid-compress, then ``--out RUN --resume`` (the wall-time / step checkpoint it had).
4. ``--resume`` with a changed flag (``--sparsity 0.75``): refused, naming the change.
5. A folder of images too small to score, with ``--evaluate``: refused before training.
6. A run directory that does not exist (``evaluate``, ``report``, ``compress --teacher``).

For each: the exit code, the last line on stderr, and whether every file that existed before is still there,
unchanged. Prints a markdown table (``--json`` for JSON).

Usage: ``python studies/first_hour_trial.py [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def gc(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gancompress", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, **kw)  # fmt: skip


def snapshot(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*") if p.is_file()}


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def wait_for_step(run: Path, step: int, child: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = run / "metrics.jsonl"
        if log.is_file() and any(json.loads(x).get("step", 0) >= step for x in log.read_text().splitlines() if x):
            return
        if child.poll() is not None:
            raise RuntimeError("the run ended before it could be interrupted")
        time.sleep(0.05)
    raise RuntimeError(f"step {step} was never logged")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gancompress-trial-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANCOMPRESS_CACHE": str(tmp / "cache")}
    rows = []

    def row(name: str, proc: subprocess.CompletedProcess[str] | int, message: str, kept: bool) -> None:
        code = proc if isinstance(proc, int) else proc.returncode
        rows.append({"scenario": name, "exit": code, "message": message, "no file lost": kept})

    teacher = tmp / "teacher"  # the default `train` length (2,000 steps) on digits, log every 10 steps
    proc = gc(["train", "--data", "digits", "--set", "data.image_size=16", "--out", str(teacher), "-q"], env)
    assert proc.returncode == 0, proc.stderr
    before = snapshot(teacher)

    proc = gc(["compress", "--teacher", str(teacher), "--out", str(teacher), "--overwrite"], env)
    row("--out is the --teacher (with --overwrite)", proc, last_line(proc.stderr), snapshot(teacher) == before)

    for name, sig in (("Ctrl-C at 30 % of a default compress", signal.SIGINT), ("kill -9 mid-compress", None)):
        run = tmp / ("interrupted" if sig else "killed")
        extra = [] if sig else ["--set", "train.ckpt_every=50"]  # kill -9: the last step checkpoint survives
        child = subprocess.Popen(
            [sys.executable, "-m", "gancompress", "compress", "--teacher", str(teacher), "--out", str(run), *extra],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for_step(run, 60, child)  # 30 % of the default budget: 10 % of 2,000 teacher steps
        child.send_signal(sig or signal.SIGKILL)
        _, err = child.communicate(timeout=120)
        kept = snapshot(run)
        resumed = gc(["compress", "--out", str(run), "--resume", "-q"], env)
        ok = resumed.returncode == 0 and all(k in snapshot(run) for k in kept if not k.startswith("checkpoints"))
        message = last_line(err) if sig else f"killed (exit {child.returncode}); resume: exit {resumed.returncode}"
        row(name + ", then --out RUN --resume", child.returncode, message, ok and resumed.returncode == 0)

    run = tmp / "interrupted"
    snap = snapshot(run)
    proc = gc(["compress", "--out", str(run), "--resume", "--sparsity", "0.75"], env)
    row("--resume with a changed flag", proc, last_line(proc.stderr), snapshot(run) == snap)

    folder = tmp / "photos"
    for i in range(30):
        (folder / ("ab"[i % 2])).mkdir(parents=True, exist_ok=True)
        Image.new("L", (32, 32), color=i * 8).save(folder / "ab"[i % 2] / f"{i}.png")
    small = tmp / "small_teacher"
    gc(["train", "--data", "image_folder", "--data-dir", str(folder), "--steps", "2", "--batch-size", "8",
        "--out", str(small), "-q"], env)  # fmt: skip
    snap = snapshot(folder)
    proc = gc(["compress", "--teacher", str(small), "--evaluate", "--out", str(tmp / "c"), "-q"], env)
    row("a folder too small to score, --evaluate", proc, last_line(proc.stderr),
        snapshot(folder) == snap and not (tmp / "c").exists())  # fmt: skip

    for cmd in (["evaluate", str(tmp / "missing")], ["report", str(tmp / "missing")],
                ["compress", "--teacher", str(tmp / "missing"), "--out", str(tmp / "m")]):  # fmt: skip
        proc = gc(cmd, env)
        row(f"{cmd[0]} of a missing run", proc, last_line(proc.stderr), not (tmp / "m").exists())

    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| scenario | exit | message (last line on stderr) | no file lost |")
    print("|---|---|---|---|")
    for r in rows:
        msg = r["message"].replace(str(tmp), "<tmp>").replace("|", "\\|")
        print(f"| {r['scenario']} | {r['exit']} | {msg} | {'yes' if r['no file lost'] else 'NO'} |")


if __name__ == "__main__":
    main()
