"""GAN families: architectures + named loss terms + input sampling, created by name from ``FAMILIES``.

- :mod:`~gancompress.families.contract` — ``GanLoss`` (named loss terms), ``Family`` (builds G and D), ``FAMILIES``.
- :mod:`~gancompress.families.loss_checks` — what a ``GanLoss`` returns, checked where it is produced.
- :mod:`~gancompress.families.checks` — what the Python API is handed (bring-your-own GANs above all).
- :mod:`~gancompress.families.user` — ``--model file.py:factory``: a user's GAN on the command line.
- :mod:`~gancompress.families.sampling` — reproducible generator outputs (same seed, same inputs).
- one file per built-in family (``dcgan``, ``pix2pix``, ``cyclegan``, ``srgan``, ``stargan``); their networks live in
  :mod:`gancompress.models`.
"""

from __future__ import annotations

from gancompress.families import cyclegan, dcgan, pix2pix, srgan, stargan  # noqa: F401  (registers built-in families)
from gancompress.families.contract import (
    FAMILIES,
    Batch,
    EvalInputs,
    Family,
    GanLoss,
    describe,
    draw_batch,
    get_family,
    weighted_sum,
)

__all__ = [
    "FAMILIES",
    "Batch",
    "EvalInputs",
    "Family",
    "GanLoss",
    "describe",
    "draw_batch",
    "get_family",
    "weighted_sum",
]
