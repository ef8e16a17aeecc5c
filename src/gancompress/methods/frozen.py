"""How a frozen network runs inside the training loop: in the mode it was trained in, without side effects.

docs/method.md §1 ("Networks"): G_O is frozen — no weight and no statistics update — and G_C's terms of Eq. 7–8 are
computed in the **same** normalisation mode as G_O's, so that L_GC = 0 when G_C = G_O. A frozen discriminator
(Table 1 rows i, l) keeps the normalisation mode it was trained in. And a diagnostic must not change what it
measures: no BatchNorm statistics updated, no number drawn from the training random stream.

DECISION (docs/decisions.md "Normalisation mode"): every network runs in train mode inside the loop, as the GAN was
trained — BatchNorm normalises with the statistics of the batch, dropout is active. G_C trains in that mode, so G_O
(whose side of Eq. 7–8 is the reference) runs in it too. A frozen network's buffers (running statistics, the batch
counter, spectral norm's power-iteration vectors) are restored after each use (:func:`frozen_buffers`), and G_O's side
draws the same random numbers as G_C's forward that follows it (:func:`replayed_randomness`): with identical weights
both sides then compute identical outputs, dropout included. The alternative, both networks in eval mode, was
rejected: G_C would train through G_O's running statistics, which stop describing its activations once weights are
pruned, and its own statistics would never be updated.

Example:
    >>> from torch import nn
    >>> bn = nn.BatchNorm1d(3).train()
    >>> with frozen_buffers(bn):
    ...     _ = bn(torch.randn(8, 3) + 5.0)
    >>> bool(bn.running_mean.abs().max() == 0), int(bn.num_batches_tracked)
    (True, 0)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn


@contextmanager
def frozen_buffers(*modules: nn.Module | None) -> Iterator[None]:
    """Run the block in whatever mode ``modules`` are in, then restore every buffer they hold to its value before.

    Covers BatchNorm's running mean / variance and batch counter, spectral norm's ``u`` / ``v`` and any buffer a
    user's module updates in its forward. ``None`` entries are ignored.
    """
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    seen: set[int] = set()
    for module in modules:
        if module is None:
            continue
        for buf in module.buffers():
            if id(buf) not in seen:
                seen.add(id(buf))
                saved.append((buf, buf.detach().clone()))
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


def _rng_devices() -> list[int]:
    """CUDA devices whose generators have been used (fork_rng saves only these; CPU-only runs: none)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return list(range(torch.cuda.device_count()))
    return []


@contextmanager
def replayed_randomness() -> Iterator[None]:
    """Run the block on a fork of the global random streams: whatever it draws is drawn again by the code after it.

    G_O's side of a comparison runs inside this block, G_C's side after it, so dropout masks (and any other draw
    inside the forward) are the same on both sides.
    """
    with torch.random.fork_rng(devices=_rng_devices()):
        yield


@contextmanager
def side_effect_free(*modules: nn.Module | None) -> Iterator[None]:
    """A measurement (diagnostics, a health probe): no gradients, ``modules``' buffers restored, the random streams
    left exactly as they were (so a run with the measurement trains identically to a run without it)."""
    with ExitStack() as stack:
        stack.enter_context(torch.no_grad())
        stack.enter_context(frozen_buffers(*modules))
        stack.enter_context(replayed_randomness())
        yield


__all__ = ["frozen_buffers", "replayed_randomness", "side_effect_free"]
