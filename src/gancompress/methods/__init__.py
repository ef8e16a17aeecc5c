"""Compression strategies, one per file, named after Table 1's rows (PAPER.md §4), created by name."""

from __future__ import annotations

from gancompress.config import MethodCfg
from gancompress.methods.base import Method
from gancompress.registry import Registry

METHODS: Registry[type[Method]] = Registry("method")


def create_method(cfg: MethodCfg) -> Method:
    """Instantiate the strategy ``cfg.name`` with its options (UserError listing valid names otherwise)."""
    return METHODS.get(cfg.name)(cfg)


from gancompress.methods import (  # noqa: E402,F401  (registration, Table 1 rows a–n)
    adversarial_distill,
    agp_finetune,
    agp_scratch,
    dense,
    distill_fixed_d,
    em_prune,
    gan_kd,
    lit,
    oneshot_distill,
    oneshot_distill_adv,
    oneshot_finetune,
    prune_g_and_d,
    self_supervised,
    small_dense_scratch,
    small_dense_scratch_trained_d,
)

__all__ = ["METHODS", "Method", "create_method"]
