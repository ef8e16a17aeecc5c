"""Shared fixtures of the CLI integration tests (each test module drives ``python -m gancompress`` in subprocesses)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Subprocess environment: a per-module feature cache, one OpenMP thread (the CI machine is shared), quiet."""
    cache = tmp_path_factory.mktemp("cache")
    return {**os.environ, "GANCOMPRESS_CACHE": str(cache), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
