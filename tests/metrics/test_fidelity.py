"""gancompress.metrics.fidelity: known PSNR values and the class metrics (coverage, KL, histograms)."""

from __future__ import annotations

import math

import pytest
import torch

from gancompress.errors import UserError
from gancompress.metrics import (
    HIGHER_IS_BETTER,
    class_coverage,
    class_histogram,
    class_kl,
    fidelity,
    psnr,
)

# ------------------------------------------------------------------------------------ fidelity and class metrics


def test_psnr_known_values() -> None:
    a = torch.zeros(3, 3, 8, 8)
    b = torch.full((3, 3, 8, 8), 0.25)  # MSE 1/16, range 2 → 10·log10(4 · 16) = 18.0618 dB (exact in float32)
    assert psnr(a, b) == pytest.approx(10 * math.log10(64), abs=1e-12)
    c = torch.cat([torch.full((1, 3, 8, 8), -0.25), torch.full((1, 3, 8, 8), 1 / 32)])  # 18.06 dB and 36.12 dB
    assert psnr(torch.zeros(2, 3, 8, 8), c) == pytest.approx((10 * math.log10(64) + 10 * math.log10(4096)) / 2)
    assert psnr(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2), data_range=1.0) == pytest.approx(0.0, abs=1e-12)
    assert psnr(a, a) == pytest.approx(100.0)  # capped, finite
    f = fidelity(a, b)
    assert f["psnr"] == pytest.approx(18.0618, abs=1e-4)
    assert f["l1"] == pytest.approx(0.25) and f["mse"] == pytest.approx(1 / 16)
    assert HIGHER_IS_BETTER["psnr"] and not HIGHER_IS_BETTER["l1"]
    with pytest.raises(UserError):
        psnr(a, b[:2])


def test_class_metrics() -> None:
    assert class_coverage(torch.full((50,), 3), 10) == pytest.approx(0.1)
    assert class_coverage(torch.arange(100) % 10, 10) == 1.0
    logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 2]), 4).float()
    assert class_histogram(logits, 4).tolist() == [0.25, 0.5, 0.25, 0.0]
    uniform = torch.full((10,), 0.1)
    assert class_kl(uniform, uniform) == pytest.approx(0.0, abs=1e-12)
    collapsed = class_histogram(torch.zeros(10, dtype=torch.long), 10)
    assert class_kl(collapsed, uniform) > 5.0
    with pytest.raises(UserError):
        class_histogram(torch.tensor([0, 11]), 10)
