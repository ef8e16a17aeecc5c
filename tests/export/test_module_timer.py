"""gancompress.export.module_timer: one module's seconds per call on each backend (a lone layer exported in memory,
a whole model through the file exporter) — positive numbers, never thresholds."""

from __future__ import annotations

import pytest
import torch

from gancompress.export.module_timer import minus, module_timer
from tests.export.nets import conv_net


@pytest.mark.parametrize("backend", ["eager", "onnxruntime"])
def test_layers_and_whole_models_are_timed(backend: str) -> None:
    time_it = module_timer(backend, threads=1, repeats=2, min_sample_s=0.0)
    x = (torch.randn(2, 3, 8, 8),)
    with torch.inference_mode():
        assert time_it(conv_net(4)[0], x) > 0
        assert time_it(conv_net(4), x) > 0


def test_minus_subtracts_a_floor_and_stays_non_negative() -> None:
    fixed = minus(lambda m, x: 3e-6, 1e-6)
    assert fixed(None, ()) == pytest.approx(2e-6)
    assert minus(lambda m, x: 1e-6, 5e-6)(None, ()) == 0.0
