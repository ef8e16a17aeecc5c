"""Subprocess helpers shared by the CLI tests: ``from tests.clirun import ROOT, gancompress, run_cmd``.

A plain module, not a conftest: ``tests/`` is a package (``__init__.py`` in every directory, so test files in
different directories may share a name, as ``tests/test_evaluate.py`` and ``tests/cli/test_evaluate.py`` do), and
pytest's default ``prepend`` import mode puts the repository root on ``sys.path``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository root: the default working directory of every run


def run_cmd(
    cmd: list[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with ``env`` in ``cwd`` (default: the repository root), capturing stdout and stderr as text."""
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd or ROOT, timeout=timeout)


def gancompress_cmd(args: list[str], *, quiet: bool = False) -> list[str]:
    """The command line ``python -m gancompress *args`` (``-q`` appended last when ``quiet``)."""
    return [sys.executable, "-m", "gancompress", *args, *(["-q"] if quiet else [])]


def gancompress(
    args: list[str], env: dict[str, str], *, quiet: bool = False, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gancompress *args`` (``-q`` appended last when ``quiet``) via :func:`run_cmd`."""
    return run_cmd(gancompress_cmd(args, quiet=quiet), env, cwd=cwd, timeout=timeout)


def error_line(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Bad input's contract (docs/architecture.md "Bad input"): exit 2, no traceback, one ``error:`` line holding
    ``fragments``; returns that line."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def train_dry_run(out: Path, env: dict[str, str]) -> Path:
    """``gancompress train --dry-run --out out -q``: a tiny teacher run directory at ``out`` (asserted to succeed)."""
    proc = gancompress(["train", "--dry-run", "--out", str(out), "-q"], env)
    assert proc.returncode == 0, proc.stderr
    return out
