"""Fixtures shared by the CLI tests (the subprocess helpers themselves are in tests/clirun.py)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def plain_env() -> dict[str, str]:
    """Subprocess environment without a feature cache override: one OpenMP thread, quiet."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
