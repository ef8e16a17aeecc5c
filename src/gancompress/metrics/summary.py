"""Summaries of scores: mean ± 95 % interval over seeds, and the size of a generator (parameters, non-zeros, sparsity).

Example:
    >>> summarize([2.0, 4.0])["mean"]
    3.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from gancompress.pruning import count_nonzero, count_parameters

SIZE_KEYS = ("params", "nonzero", "sparsity", "num_samples", "num_real", "classifier_accuracy")


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample std (ddof=1) and the 95 % confidence half-width ``t_{0.975, n-1} · std / √n`` of ``values``.

    Example:
        >>> round(summarize([1.0, 2.0, 3.0])["ci95"], 4)
        2.4841
    """
    import math

    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "std": 0.0, "ci95": float("nan"), "n": n, "values": list(values)}
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci95": half, "n": n, "values": list(values)}


def size_stats(g: nn.Module) -> dict[str, Any]:
    """Parameters, non-zero parameters and prunable-weight sparsity of ``g``."""
    params, nonzero = count_parameters(g), count_nonzero(g)
    masks = [m for name, m in g.named_buffers() if name.endswith("weight_mask")]
    total = sum(m.numel() for m in masks)
    sparsity = 1.0 - sum(int(m.count_nonzero()) for m in masks) / total if total else 0.0
    return {"params": params, "nonzero": nonzero, "sparsity": round(sparsity, 6)}
