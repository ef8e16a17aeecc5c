"""Compression strategies, one per file, named after Table 1's rows (docs/method.md §4), created by name.

- :mod:`~gancompress.methods.base` — the strategy contract (``Method``), ``METHODS`` and :func:`create_method`.
- :mod:`~gancompress.methods.dense` — row a, the teacher's own training.
- :mod:`~gancompress.methods.self_supervised` — row b, the paper's method (Eq. 7–9).
- :mod:`gancompress.methods.baselines` — rows c–n.
- :mod:`~gancompress.methods.frozen` — how a frozen network (G_O, a frozen D) runs: in its training mode, without
  side effects (the loop uses it too).
"""

from __future__ import annotations

from gancompress.methods import dense, self_supervised  # noqa: F401  (registration, Table 1 rows a, b)
from gancompress.methods.base import METHODS, Method, create_method
from gancompress.methods.baselines import (  # noqa: F401  (registration, Table 1 rows c–n)
    adversarial_distill,
    agp_finetune,
    agp_scratch,
    distill_fixed_d,
    em_prune,
    gan_kd,
    lit,
    oneshot_distill,
    oneshot_distill_adv,
    oneshot_finetune,
    prune_g_and_d,
    same_widths_scratch,
    small_dense_scratch,
    small_dense_scratch_trained_d,
)

__all__ = ["METHODS", "Method", "create_method"]
