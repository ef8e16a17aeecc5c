"""Known-bad generators: the failures a verdict must see, built from real data, to calibrate its thresholds.

docs/results.md "Verdict calibration" reads the scores of each of these against a trained teacher's; every threshold
in ``verdict.py`` is set so that all of them are flagged while the teacher (scored with other sampling seeds) is not.

- ``one_class``: real training images of a single class — perfect quality, one mode (mode collapse);
- ``few_images``: eight real training images replayed — the collapse the App. A.1 low-entropy D produces;
- ``noise``: uniform noise in [-1, 1] — no image at all;
- ``input_copy`` (translation families): the input image returned unchanged — no translation;
- a ``half_trained`` model is a checkpoint of the teacher's own run (the caller loads it).

Each module takes the family's generator inputs and derives a per-sample key from them, so its outputs vary with
its inputs like a generator's do and the same inputs give the same outputs.

Example:
    >>> import torch
    >>> bank = torch.rand(5, 1, 8, 8) * 2 - 1
    >>> g = Replay(bank)
    >>> g(torch.randn(3, 4)).shape
    torch.Size([3, 1, 8, 8])
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from gancompress.data import ImageDataset

#: how many distinct images ``few_images`` replays
FEW_IMAGES = 8


def _keys(x: torch.Tensor) -> torch.Tensor:
    """A deterministic non-negative integer per sample from an input tensor (its values' sum, quantised)."""
    return (x.detach().flatten(1).double().sum(1) * 1e4).round().long().abs()


class Replay(nn.Module):
    """Returns images of ``bank`` (N, C, H, W), one per sample, chosen by a key of the first input."""

    def __init__(self, bank: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("bank", bank.detach().clone())

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return self.bank[_keys(x).to(self.bank.device) % self.bank.shape[0]]


class Noise(nn.Module):
    """Uniform noise in [-1, 1] of ``shape`` per sample, seeded by a key of the first input."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.register_buffer("anchor", torch.zeros(()))  # carries the device

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        out = [
            torch.rand(self.shape, generator=torch.Generator().manual_seed(int(k))) * 2 - 1 for k in _keys(x).tolist()
        ]
        return torch.stack(out).to(self.anchor.device)


class InputCopy(nn.Module):
    """Returns its first input unchanged (image-to-image families: the translation that changes nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("anchor", torch.zeros(()))

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return x


def known_bad(train: ImageDataset, output_shape: tuple[int, ...], input_shape: tuple[int, ...] | None = None):
    """``{name: generator}`` for the failures above, from the training split and the generator's sample shapes.

    ``input_shape``: the shape of one sample of the generator's first input; ``input_copy`` is included when it
    equals ``output_shape`` (an image-to-image generator).
    """
    out: dict[str, nn.Module] = {}
    if train.labels is not None:
        labels, counts = torch.unique(train.labels, return_counts=True)
        biggest = int(labels[counts.argmax()])
        out["one_class"] = Replay(train.images[train.labels == biggest])
    gen = torch.Generator().manual_seed(0)
    out["few_images"] = Replay(train.images[torch.randperm(len(train), generator=gen)[:FEW_IMAGES]])
    out["noise"] = Noise(output_shape)
    if input_shape is not None and tuple(input_shape) == tuple(output_shape):
        out["input_copy"] = InputCopy()
    return out


def calibration_table(
    scores: Mapping[str, Mapping[str, object]], teacher: Mapping[str, object], keys: tuple[str, ...]
) -> list[dict[str, object]]:
    """One row per scored generator: each of ``keys`` and its ratio to the teacher's value (for docs/results.md)."""
    rows = []
    for name, s in scores.items():
        row: dict[str, object] = {"generator": name}
        for k in keys:
            v, t = s.get(k), teacher.get(k)
            row[k] = v
            if isinstance(v, (int, float)) and isinstance(t, (int, float)) and t:
                row[f"{k}_ratio"] = v / t
        rows.append(row)
    return rows


__all__ = ["FEW_IMAGES", "InputCopy", "Noise", "Replay", "calibration_table", "known_bad"]
