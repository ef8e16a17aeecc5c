"""experiments/sweeps/sweep.py: the N:M pattern of each sparsity."""

from __future__ import annotations

from gancompress.experiments.sweeps.sweep import nm_for


def test_nm_pattern_for_each_sparsity() -> None:
    assert [nm_for(s) for s in (0.25, 0.5, 0.75, 0.9)] == ["nm:3:4", "nm:2:4", "nm:1:4", None]
