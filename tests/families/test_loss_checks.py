"""What a bring-your-own ``GanLoss`` returns is checked where it is produced (families/loss_checks.py): a bare tensor
of inputs, a float or detached term, an empty dict, term names that change between calls and a frozen generator give
a UserError naming the class and method instead of an AttributeError / StopIteration deep inside a method or, worse,
silent training; a teacher term that is exactly 0 (Eq. 7's denominator) is warned about once.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gancompress as gc
from gancompress.methods import self_supervised
from gancompress.methods.self_supervised import consistency


class G(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 16)
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(self.fc(z).view(-1, 1, 4, 4).repeat(1, 1, 2, 2)))


class D(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Loss(gc.GanLoss):
    g_weights: ClassVar[dict[str, float]] = {"gen": 1.0}
    d_weights: ClassVar[dict[str, float]] = {"real": 1.0, "fake": 1.0}

    def generator_input(self, batch):
        return (torch.randn(len(batch["real"]), 8),)

    def sample_input(self, n, generator, device):
        return (torch.randn(n, 8, generator=generator).to(device),)

    def generator_terms(self, g_out, batch, d):
        return {"gen": F.softplus(-d(g_out)).flatten(1).mean(1)}

    def discriminator_terms(self, g_out, batch, d, *, fake_only=False):
        fake = {"fake": F.softplus(d(g_out)).flatten(1).mean(1)}
        return fake if fake_only else {"real": F.softplus(-d(batch["real"])).flatten(1).mean(1), **fake}


def _compress(loss: gc.GanLoss, g: nn.Module | None = None) -> gc.CompressResult:
    torch.manual_seed(0)
    data = gc.load_dataset(gc.DataCfg(name="fake", image_size=8, limit=32), "train")
    return gc.compress(
        g or G(), D(), data, loss=loss, method="self_supervised",
        prune=gc.PruneCfg(sparsity=0.5), train=gc.TrainCfg(steps=2, batch_size=4, log_every=1),
    )  # fmt: skip


class BareTensorInput(Loss):
    def generator_input(self, batch):
        return torch.randn(len(batch["real"]), 8)  # g(*x) would unpack it along the batch


class FloatTerm(Loss):
    def generator_terms(self, g_out, batch, d):
        return {"gen": float(F.softplus(-d(g_out)).mean())}


class EmptyTerms(Loss):
    def generator_terms(self, g_out, batch, d):
        return {}


class DetachedTerm(Loss):
    def generator_terms(self, g_out, batch, d):
        return {"gen": F.softplus(-d(g_out.detach())).flatten(1).mean(1)}


class ListTerms(Loss):
    def generator_terms(self, g_out, batch, d):
        return [F.softplus(-d(g_out)).mean()]


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (BareTensorInput(), "BareTensorInput.generator_input must return a tuple"),
        (FloatTerm(), "'gen' is a float, not a tensor"),
        (EmptyTerms(), "EmptyTerms.generator_terms returned no loss terms"),
        (DetachedTerm(), "'gen' does not depend on the generator"),
        (ListTerms(), "must return a dict of named loss terms"),
    ],
)
def test_malformed_loss_results_are_user_errors(loss: gc.GanLoss, message: str) -> None:
    with pytest.raises(gc.UserError, match=message):
        _compress(loss)


def test_a_well_formed_loss_still_compresses() -> None:
    res = _compress(Loss())
    assert res.masks.overall_sparsity() == pytest.approx(0.5, abs=0.02)


def test_frozen_generator_is_refused() -> None:
    g = G().requires_grad_(False)
    with pytest.raises(gc.UserError, match="no trainable parameter"):
        _compress(Loss(), g)


def test_term_names_must_match_between_teacher_and_student() -> None:
    t = torch.ones(4, requires_grad=True)
    with pytest.raises(gc.UserError, match="differ"):
        consistency({"gen0": t.detach()}, {"gen1": t}, {})
    assert float(consistency({}, {}, {})) == 0.0  # no fake-dependent D term: L_DC = 0


def test_zero_teacher_term_warns_once(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(self_supervised, "_warned", set())
    comp = {"fake": torch.full((4,), 0.01, requires_grad=True)}
    with caplog.at_level(logging.WARNING, logger="gancompress.methods.self_supervised"):
        value = consistency({"fake": torch.zeros(4)}, comp, {}, reduction="sample")
        consistency({"fake": torch.zeros(4)}, comp, {}, reduction="sample")
    assert float(value.detach()) == pytest.approx(1e6, rel=1e-3)  # the paper's formula is kept …
    assert caplog.text.count("G_O's loss term 'fake' is ~0") == 1  # … and the user told once
    assert "try method.reduction=batch" in caplog.text
    caplog.clear()
    monkeypatch.setattr(self_supervised, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="gancompress.methods.self_supervised"):
        consistency({"fake": torch.full((4,), 1e-6)}, comp, {})  # already batch means: no advice to set it again
    assert "G_O's loss term 'fake' is ~0" in caplog.text and "reduction" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gancompress.methods.self_supervised"):
        consistency({"gen": torch.full((4,), 0.7)}, {"gen": torch.full((4,), 0.6)}, {})
    assert caplog.text == ""
