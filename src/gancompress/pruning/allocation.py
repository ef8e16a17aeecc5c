"""How a model-level sparsity target becomes one sparsity per layer: uniform or global, plus per-layer overrides.

- ``uniform`` (docs/method.md §3, the paper's setting): every layer is pruned to the target.
- ``global``: one score threshold across all layers (Han et al. 2015's global magnitude pruning; with the
  ``bn_scale`` channel criterion this is network slimming, Liu et al. 2017). Layers whose units score low lose
  more; the *weights* pruned over all these layers add up to the target. Every layer keeps at least one unit so no
  layer is cut out of the network.
- ``layer_sparsity`` overrides (``{pattern: final sparsity}``; exact names, parents, prefixes ending in ``.`` or
  fnmatch patterns, first match wins) pin chosen layers; during a ramp they move proportionally to the schedule
  (``override × current / final``). Under ``global`` the other layers share one threshold and make up the rest of
  the model-level target (pinned layers that keep more make the others lose more).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from gancompress.pruning.granularity import make_granularity
    >>> layers = {"a": nn.Linear(4, 4), "b": nn.Linear(4, 4)}
    >>> scores = {"a": torch.ones(4, 4), "b": torch.full((4, 4), 2.0)}
    >>> layer_sparsities(layers, scores, make_granularity("element"), 0.5, scope="global")
    {'a': 0.9375, 'b': 0.0625}

    (``a``'s units all score lowest, but its best one stays, so ``b`` gives the remaining unit.)
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.pruning.granularity import Granularity, canonical

log = logging.getLogger(__name__)

SCOPES = ("uniform", "global")


def matches(name: str, pattern: str) -> bool:
    """``name`` is ``pattern``, lies under it (``"head"`` covers ``"head.0"``; ``"net."`` is a prefix) or fnmatches."""
    if name == pattern or fnmatch.fnmatchcase(name, pattern):
        return True
    prefix = pattern if pattern.endswith(".") else pattern + "."
    return name.startswith(prefix)


def check_policy(
    granularity: Granularity, scope: str, layer_sparsity: Mapping[str, float], layer_names: list[str]
) -> None:
    """``UserError`` for an unknown scope, an override out of [0, 1) or matching no layer, or N:M with either."""
    if scope not in SCOPES:
        raise UserError(f"unknown prune.scope {scope!r}; valid values: {', '.join(SCOPES)}.")
    for pattern, value in layer_sparsity.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= float(value) < 1.0:
            raise UserError(f"prune.layer_sparsity[{pattern!r}] must be a number in [0, 1), got {value!r}")
        if not any(matches(n, pattern) for n in layer_names):
            raise UserError(
                f"prune.layer_sparsity entry {pattern!r} matches no pruned layer; pruned: {', '.join(layer_names)}"
            )
    check_fixed(granularity, scope, layer_sparsity)


def check_fixed(granularity: Granularity, scope: str, layer_sparsity: Mapping[str, float]) -> None:
    """``UserError`` when a fixed-sparsity granularity (N:M) is given a global scope or per-layer overrides."""
    if granularity.fixed_sparsity is not None and (scope != "uniform" or layer_sparsity):
        raise UserError(
            f"{granularity.name} sparsity is fixed per group ({granularity.fixed_sparsity:.0%}); prune.scope=global "
            "and prune.layer_sparsity do not apply — use prune.exclude to keep layers dense"
        )


def _override(name: str, layer_sparsity: Mapping[str, float]) -> float | None:
    for pattern, value in layer_sparsity.items():
        if matches(name, pattern):
            return float(value)
    return None


def _unit_scores(granularity: Granularity, scores: Tensor, layer: nn.Module) -> tuple[Tensor, int]:
    """(per-unit summed scores, weights per unit) — the same unit sums :meth:`Granularity.mask` ranks by."""
    units = granularity._units(canonical(scores, layer), layer)
    return units.float().sum(dim=1).cpu(), int(units.shape[1])


def layer_sparsities(
    layers: Mapping[str, nn.Module],
    scores: Mapping[str, Tensor],
    granularity: Granularity,
    sparsity: float,
    *,
    scope: str = "uniform",
    layer_sparsity: Mapping[str, float] | None = None,
    final_sparsity: float | None = None,
) -> dict[str, float]:
    """Sparsity (fraction of units) per layer for the model-level ``sparsity`` at this point of the schedule.

    Args:
        layers: ``{name: module}`` being pruned.
        scores: ``{name: weight-shaped importance}`` (only needed for ``global``).
        granularity: Decides what a unit is.
        sparsity: The schedule's current model-level target.
        scope: ``uniform`` or ``global``.
        layer_sparsity: Final sparsity overrides ``{pattern: value}``.
        final_sparsity: The schedule's final target (``PruneCfg.sparsity``), to ramp overrides; ``None`` or 0: the
            overrides apply in full.

    Returns:
        ``{name: fraction of units to prune}`` for every layer.
    """
    overrides = dict(layer_sparsity or {})
    ramp = sparsity / final_sparsity if final_sparsity else 1.0
    out: dict[str, float] = {}
    free: list[str] = []
    for name in layers:
        pinned = _override(name, overrides)
        if pinned is None:
            free.append(name)
        else:
            out[name] = min(pinned * ramp, pinned)
    if scope == "uniform" or not free or sparsity <= 0.0:
        out.update(dict.fromkeys(free, float(sparsity)))
        return {name: out[name] for name in layers}
    # global: rank every unit of the free layers together; prune the lowest until `sparsity` of their weights go.
    unit_scores, sizes, owners, counts = [], [], [], {}
    for i, name in enumerate(free):
        s, size = _unit_scores(granularity, scores[name], layers[name])
        s[torch.sort(s, stable=True).indices[-1]] = float("inf")  # each layer's best unit is never pruned
        unit_scores.append(s)
        sizes.append(torch.full_like(s, float(size), dtype=torch.float64))
        owners.append(torch.full(s.shape, i, dtype=torch.long))
        counts[name] = int(s.numel())
    flat, size, owner = torch.cat(unit_scores), torch.cat(sizes), torch.cat(owners)
    order = torch.sort(flat, stable=True).indices  # ties: lower layer index, then lower unit index first
    cum = torch.cumsum(size[order], 0)
    # the model-level target counts every pruned layer: the free layers make up for what the pinned ones keep
    pinned = [n for n in layers if n not in free]
    pinned_total = sum(layers[n].weight.numel() for n in pinned)
    pinned_pruned = sum(out[n] * layers[n].weight.numel() for n in pinned)
    budget = max(0.0, float(sparsity) * (float(cum[-1]) + pinned_total) - pinned_pruned)
    n = int(torch.searchsorted(cum, torch.tensor(budget, dtype=torch.float64), right=True))
    if n < len(cum) and abs(float(cum[n]) - budget) < abs(budget - (float(cum[n - 1]) if n else 0.0)):
        n += 1  # the next unit lands closer to the budget
    pruned = torch.bincount(owner[order[:n]], minlength=len(free))
    capped = []
    for i, name in enumerate(free):
        k = min(int(pruned[i]), counts[name] - 1)  # guard: keep ≥ 1 unit, never cut a layer out of the network
        if k < int(pruned[i]):
            capped.append(name)
        out[name] = k / counts[name]
    if capped:
        log.warning("global pruning would remove every unit of %s; kept one unit each", ", ".join(capped))
    return {name: out[name] for name in layers}
