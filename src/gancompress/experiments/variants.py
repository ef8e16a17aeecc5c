"""Named variants of ``self_supervised``'s options (and two same-budget controls) as config changes.

A variant is a set of changes to the method / prune / train configs of a compression run, applied on top of the
run's own settings. ``benchmarks/ss_variants.py`` sweeps them from one teacher; ``gancompress reproduce table1
--variants`` adds them as extra rows next to Table 1 (never editing a paper row).

Variants: ``paper`` (batch reduction, abs, λ=0.5 — no change), ``sample`` (per-sample reduction), ``squared``,
``lr1e-4`` / ``lr5e-5`` (both learning rates), ``anchor1`` (+1·‖G_C(x) − G_O(x)‖₁), ``sample_lr5e-5``, ``oneshot``
(one-shot schedule), ``lrd5e-5`` / ``frozen_d`` (D's learning rate 5e-5 / 0), ``anchor1_lrd5e-5``, ``budget20`` (20 %
of the teacher's steps), ``oneshot_finetune`` (Table 1 row d, also ``_budget20``), ``continued`` (the dense teacher
trained on for the same budget with the plain GAN loss — the control docs/method.md §7 asks for).

Example:
    >>> from gancompress.config import MethodCfg, PruneCfg, TrainCfg
    >>> m, p, t = apply_variant("sample_lr5e-5", MethodCfg(), PruneCfg(), TrainCfg())
    >>> m.reduction, t.lr_g, p.sparsity
    ('sample', 5e-05, 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gancompress.config import MethodCfg, PruneCfg, TrainCfg
from gancompress.errors import UserError

# name → (method cfg changes, prune cfg changes, train cfg changes)
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "paper": ({}, {}, {}),
    "sample": ({"reduction": "sample"}, {}, {}),
    "squared": ({"distance": "squared"}, {}, {}),
    "lr1e-4": ({}, {}, {"lr_g": 1e-4, "lr_d": 1e-4}),
    "lr5e-5": ({}, {}, {"lr_g": 5e-5, "lr_d": 5e-5}),
    "anchor1": ({"anchor": 1.0}, {}, {}),
    "sample_lr5e-5": ({"reduction": "sample"}, {}, {"lr_g": 5e-5, "lr_d": 5e-5}),
    "oneshot": ({}, {"schedule": "one_shot"}, {}),
    "lrd5e-5": ({}, {}, {"lr_d": 5e-5}),
    "frozen_d": ({}, {}, {"lr_d": 0.0}),
    "anchor1_lrd5e-5": ({"anchor": 1.0}, {}, {"lr_d": 5e-5}),
    "budget20": ({}, {}, {"budget_fraction": 0.2}),
    "oneshot_finetune_budget20": ({"name": "oneshot_finetune"}, {}, {"budget_fraction": 0.2}),
    "oneshot_finetune": ({"name": "oneshot_finetune"}, {}, {}),
    # at 0 % sparsity row d's strategy is plain continued training of the dense teacher (docs/method.md §7 control)
    "continued": ({"name": "oneshot_finetune"}, {"sparsity": 0.0}, {}),
}
#: The base method a variant changes (``self_supervised`` unless the variant names another).
BASE_METHOD = "self_supervised"


def check_variants(names: Sequence[str]) -> list[str]:
    """Validate variant names (UserError listing the valid ones); returns them stripped, duplicates removed."""
    out: list[str] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name not in VARIANTS:
            raise UserError(f"unknown variant {name!r}; valid values: {', '.join(VARIANTS)}")
        if name not in out:
            out.append(name)
    return out


def apply_variant(
    name: str, method: MethodCfg, prune: PruneCfg, train: TrainCfg
) -> tuple[MethodCfg, PruneCfg, TrainCfg]:
    """``(method, prune, train)`` with variant ``name``'s changes; the method is ``self_supervised`` unless changed."""
    check_variants([name])
    m_chg, p_chg, t_chg = VARIANTS[name]
    return (
        replace(method, **{"name": BASE_METHOD, **m_chg}),
        replace(prune, **p_chg),
        replace(train, **t_chg),
    )


def variant_method(name: str) -> str:
    """The registered method a variant runs."""
    check_variants([name])
    return VARIANTS[name][0].get("name", BASE_METHOD)


__all__ = ["BASE_METHOD", "VARIANTS", "apply_variant", "check_variants", "variant_method"]
