"""D-health diagnostics: values on hand-made scores, and the collapse monitor's alarms."""

from __future__ import annotations

import math

import pytest
import torch

from gancompress.training.diagnostics import CollapseMonitor, d_health, grad_norm


def test_d_health_logit_values() -> None:
    h = d_health(torch.tensor([0.0, 0.0]), torch.tensor([0.0, 0.0]))
    assert h["diag/d_real"] == pytest.approx(0.5) and h["diag/d_fake"] == pytest.approx(0.5)
    assert h["diag/d_entropy"] == pytest.approx(1.0)  # maximally unsure: 1 bit
    sure = d_health(torch.tensor([20.0, 20.0]), torch.tensor([-20.0, -20.0]))
    assert sure["diag/d_acc"] == 1.0 and sure["diag/d_entropy"] < 1e-5
    p = torch.sigmoid(torch.tensor(1.0)).item()
    h = d_health(torch.tensor([1.0]), torch.tensor([1.0]))
    assert h["diag/d_entropy"] == pytest.approx(-(p * math.log2(p) + (1 - p) * math.log2(1 - p)))
    assert h["diag/d_acc"] == pytest.approx(0.5)  # real right, fake wrong


def test_d_health_critic_has_no_entropy() -> None:
    h = d_health(torch.tensor([5.0, 3.0]), torch.tensor([-1.0, 1.0]), kind="critic")
    assert "diag/d_entropy" not in h and h["diag/d_acc"] == 1.0 and h["diag/d_real"] == 4.0
    with pytest.raises(ValueError, match="logit, critic"):
        d_health(torch.zeros(1), torch.zeros(1), kind="hinge")


def test_grad_norm() -> None:
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    a.grad = torch.tensor([3.0, 0.0])
    b.grad = torch.tensor([4.0])
    assert grad_norm([a, b, torch.nn.Parameter(torch.zeros(1))]) == pytest.approx(5.0)


def test_entropy_alarm_needs_sustained_collapse() -> None:
    mon = CollapseMonitor()
    for step in range(10):
        mon.update(step, {"diag/d_entropy": 0.8})
    mon.update(10, {"diag/d_entropy": 0.01})  # a single noisy dip: no alarm
    for step in range(11, 14):
        mon.update(step, {"diag/d_entropy": 0.8})
    assert mon.events == []
    for step in range(14, 22):
        mon.update(step, {"diag/d_entropy": 0.02})
    assert mon.flags == ["d_entropy_collapse"]
    assert len(mon.events) == 1 and mon.events[0]["step"] == 16  # 3 of the last 5 readings low → median low


def test_coverage_alarm() -> None:
    mon = CollapseMonitor()
    mon.update(100, {"diag/class_coverage": 1.0})
    mon.update(200, {"diag/class_coverage": 0.9})
    assert mon.events == []
    mon.update(300, {"diag/class_coverage": 0.3})
    assert mon.flags == ["class_coverage_drop"] and mon.events[0]["step"] == 300


def test_critic_gap_alarm_fires_in_a_quick_run_against_the_baseline() -> None:
    """A quick-profile compression run logs ~6 rows: with G_O's gap as the baseline the alarm can fire in them."""
    mon = CollapseMonitor(baseline={"gap": 1.0}, expected_rows=6)
    assert mon.patience == 2
    for step, gap in zip((20, 40, 60), (1.1, 1.4, 1.2), strict=True):  # healthy: near G_O's gap
        mon.update(step, {"diag/d_real": gap / 2, "diag/d_fake": -gap / 2})
    assert mon.events == []
    for step, gap in zip((80, 100, 120), (3.5, 4.2, 5.0), strict=True):  # D separates the student's fakes easily
        mon.update(step, {"diag/d_real": gap / 2, "diag/d_fake": -gap / 2})
    assert mon.flags == ["critic_gap_growth"] and mon.events[0]["step"] == 100


def test_critic_gap_needs_a_baseline_and_a_rising_gap() -> None:
    """From random init (teacher training) the gap grows as D learns: no baseline, no gap alarm. A gap that is
    wide but falling back is not raised either."""
    mon = CollapseMonitor(expected_rows=6)
    for step, gap in enumerate((0.1, 2.0, 5.0, 9.0, 12.0, 15.0)):
        mon.update(step, {"diag/d_real": gap, "diag/d_fake": 0.0})
    assert mon.events == []
    mon = CollapseMonitor(baseline={"gap": 1.0}, expected_rows=6)
    for step, gap in enumerate((8.0, 8.0, 7.0, 4.0, 3.2, 3.1)):
        mon.update(step, {"diag/d_real": gap, "diag/d_fake": 0.0})
    assert [e["step"] for e in mon.events] == [1]  # raised while it was rising, once


def test_entropy_alarm_in_a_short_run_uses_the_baseline() -> None:
    mon = CollapseMonitor(baseline={"diag/d_entropy": 0.8}, expected_rows=6)
    for step, ent in enumerate((0.7, 0.6, 0.05, 0.04)):
        mon.update(step, {"diag/d_entropy": ent})
    assert mon.flags == ["d_entropy_collapse"] and mon.events[0]["step"] == 3
    long_run = CollapseMonitor(expected_rows=200)  # long runs keep the default warm-up and patience
    assert (long_run.warmup, long_run.patience) == (10, 5)
