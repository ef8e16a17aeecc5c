"""Compression strategies, one per file, named after Table 1's rows (PAPER.md §4), created by name."""

from __future__ import annotations

from gancompress.config import MethodCfg
from gancompress.methods.base import Method
from gancompress.registry import Registry

METHODS: Registry[type[Method]] = Registry("method")


def create_method(cfg: MethodCfg) -> Method:
    """Instantiate the strategy ``cfg.name`` with its options (UserError listing valid names otherwise)."""
    return METHODS.get(cfg.name)(cfg)


from gancompress.methods import dense, oneshot_finetune, self_supervised  # noqa: E402,F401  (registration)

__all__ = ["METHODS", "Method", "create_method"]
