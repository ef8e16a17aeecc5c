"""Physical channel removal: filter-pruned (masked) layers become genuinely smaller layers.

The paper prunes by masking and reports no latency (docs/method.md §5); masked filters save nothing on a CPU. Real
speed comes from filter pruning + physically removing the dead output channels (docs/architecture.md "Speed and scale"):
the output channels of Conv2d / ConvTranspose2d / Linear whose whole filter mask is zero, the coupled BatchNorm /
InstanceNorm channels and the consumers' input channels. The dependency bookkeeping (which layers share a channel:
norms, activations, the next convolution, concatenations, residual adds) is torch-pruning's ``DependencyGraph`` (Fang

This is the only module that changes shapes; it records the new sizes (:func:`channel_spec`, in
``channel_spec.py``) so a checkpoint can be rebuilt from its JSON alone (:func:`apply_channel_spec`, used by
``checkpoint.load_module``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from gancompress.pruning import MaskSet
    >>> g = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 3, 3))
    >>> _ = MaskSet.attach(g, granularity="filter", exclude=["3"]).update(0.5)
    >>> small, report = remove_pruned_channels(g, (torch.randn(1, 3, 8, 8),))
    >>> small[0].out_channels, small[1].num_features, small[3].in_channels
    (4, 4, 4)
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gancompress.errors import UserError, describe
from gancompress.pruning.channel_spec import apply_channel_spec, channel_spec
from gancompress.pruning.coupling import CONV, as_tuple, dependency_graph, out_size, torch_pruning
from gancompress.pruning.masks import (
    MASK_BUFFER_NAMES,
    NORM_TYPES,
    MaskSet,
    count_parameters,
    output_channel_keep,
)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------- removal
def _norm_channel_dead(norm: nn.Module, i: int) -> bool:
    """Whether ``norm`` maps an all-zero input channel ``i`` to exactly zero (γ = β = 0, or no affine and μ = 0)."""
    if norm.weight is not None:
        return bool(norm.weight[i] == 0) and bool(norm.bias[i] == 0)
    running_mean = getattr(norm, "running_mean", None)
    return running_mean is None or bool(running_mean[i] == 0)


def _removable(tp: Any, graph: Any, group: Any, dead: dict[nn.Module, Tensor]) -> tuple[list[int], str | None]:
    """Root channel indices that are dead in EVERY layer of the coupling group, or a reason to skip the group."""
    ok = set(group.items[0].idxs)
    for item in group.items:
        node, mod = item.dep.target, item.dep.target.module
        if node.type == tp.ops.OPTYPE.OUTPUT:
            # DECISION: never change the model's output shape (an image has exactly C channels).
            return [], "its channels reach the model output (exclude the output layer from pruning)"
        if isinstance(mod, CONV) and mod.groups > 1 and mod.transposed:
            name = graph._module2name.get(mod, mod)
            return [], f"grouped ConvTranspose {name!r} (groups={mod.groups}) is unsupported"
        if isinstance(mod, nn.Module) and parametrize.is_parametrized(mod):
            return [], f"{graph._module2name.get(mod, mod)!r} has a parametrized weight (spectral / weight norm)"
        if isinstance(mod, nn.LayerNorm):
            return [], "LayerNorm mixes channels, removing one changes the others"
        if isinstance(mod, nn.GroupNorm):
            # whole GroupNorm groups only: removing part of one would change the statistics of the rest
            width = mod.num_channels // mod.num_groups
            dead_here = {i for i, _ in zip(item.idxs, item.root_idxs, strict=True) if _norm_channel_dead(mod, i)}
            whole = {i for i in dead_here if all(j in dead_here for j in range(i - i % width, i - i % width + width))}
            ok &= {r for i, r in zip(item.idxs, item.root_idxs, strict=True) if i in whole}
            continue
        if not graph.is_out_channel_pruning_fn(item.dep.handler):
            continue
        pairs = list(zip(item.idxs, item.root_idxs, strict=True))
        if isinstance(mod, (CONV, nn.Linear)):
            d = dead.get(mod)
            ok &= {r for i, r in pairs if d is not None and bool(d[i])}
        elif isinstance(mod, NORM_TYPES):
            ok &= {r for i, r in pairs if _norm_channel_dead(mod, i)}
    return sorted(ok), None


def remove_pruned_channels(
    model: nn.Module, example_inputs: tuple[Any, ...], *, atol: float | None = 1e-4
) -> tuple[nn.Module, dict[str, Any]]:
    """A NEW, smaller copy of ``model`` without the output channels whose whole filter mask is zero.

    A channel is removed only when it is dead everywhere it is coupled: the filter mask of every layer producing it is
    zero, and every norm consuming it maps it to zero (``MaskSet`` filter granularity masks the coupled bias and norm
    parameters, so its dead channels qualify). The copy is dense: mask buffers are dropped (the surviving weights keep
    any zeros). ``model`` is not modified.

    Args:
        model: A model carrying ``weight_mask`` buffers (normally filter granularity); the output layer should have
            been excluded from pruning — channels reaching the model output are never removed.
        example_inputs: Positional inputs of ``model`` (a tuple; a single tensor is accepted) for tracing.
        atol: After removal the copy's eval-mode output on ``example_inputs`` must match the masked model's to this
            tolerance (``None`` skips the check).

    Returns:
        ``(smaller_model, report)``; the model carries ``channel_spec`` (its layer sizes, saved by
        ``checkpoint.save_module``); the report holds ``removed`` ({layer: channels removed}), ``channels`` ({layer:
        [before, after]}), ``skipped`` ({layer: reason}), ``params_before``, ``params_after``, ``max_abs_diff``.

    Raises:
        UserError: No masks, torch-pruning missing, or a final output that differs beyond ``atol`` (a safety net:
            each coupling group is checked as it is removed, and one that changes the output — an activation with
            f(0) ≠ 0 before its consumer, a graph torch-pruning cannot follow — is undone and listed in ``skipped``).

    Example:
        >>> small, report = remove_pruned_channels(g_comp, (torch.randn(1, 64),))  # doctest: +SKIP
        >>> report["params_after"] / report["params_before"]  # doctest: +SKIP
        0.27
    """
    tp = torch_pruning()
    example_inputs = as_tuple(example_inputs)
    pruned = copy.deepcopy(model)
    modes = {n: m.training for n, m in pruned.named_modules()}
    masks = MaskSet.from_model(pruned)
    masks.apply()
    dead: dict[str, Tensor] = {}  # layer → (out,) bool: filter mask all zero and no bias left (else a constant)
    for name, mod in masks.items():
        dead[name] = output_channel_keep(mod, mod.weight_mask) == 0
        if isinstance(mod.bias, Tensor):
            dead[name] &= mod.bias.detach() == 0
    before = {n: out_size(m) for n, m in masks.items()}
    pruned.eval()
    with torch.no_grad():
        reference = pruned(*example_inputs)
    for m in pruned.modules():
        for buf in MASK_BUFFER_NAMES:
            m._buffers.pop(buf, None)
    graph = dependency_graph(tp, pruned, example_inputs)
    group_width = {n: m.num_channels // m.num_groups for n, m in pruned.named_modules() if isinstance(m, nn.GroupNorm)}
    skipped: dict[str, str] = {}
    for name in list(dead):
        idxs = dead[name].nonzero().flatten().tolist()
        if not idxs:
            continue
        layer = dict(pruned.named_modules())[name]
        by_module = {m: dead[n] for n, m in pruned.named_modules() if n in dead}
        fn = tp.prune_linear_out_channels if isinstance(layer, nn.Linear) else tp.prune_conv_out_channels
        try:
            roots, reason = _removable(tp, graph, graph.get_pruning_group(layer, fn, idxs), by_module)
        except (RuntimeError, IndexError, KeyError, ValueError) as e:  # e.g. a concat of views it cannot index
            roots, reason = [], f"its channel coupling cannot be traced ({describe(e)[:160]})"
        if reason:
            skipped[name] = reason
            log.info("not removing channels of %s: %s", name, reason)
            continue
        if len(roots) >= out_size(layer):
            roots = roots[1:]  # DECISION: keep one (zero) channel rather than a zero-width layer
        if not roots:
            continue
        group = graph.get_pruning_group(layer, fn, roots)
        # DECISION: torch-pruning's coupling rules cannot follow every graph (a Linear reshaped into conv channels,
        # a concat of views, a constant added to a conv output): each group is checked against the masked model
        # right away and undone — the layer kept whole, with the reason — rather than failing the whole export.
        snapshot = copy.deepcopy(pruned)
        broken = _prune_group_checked(group, pruned, example_inputs, reference, atol, group_width)
        if broken:
            pruned = snapshot
            skipped[name] = f"removing its channels breaks the model ({broken}); kept whole"
            log.info("not removing channels of %s: %s", name, skipped[name])
            graph = dependency_graph(tp, pruned, example_inputs)
            continue
        names = {m: n for n, m in pruned.named_modules()}
        for item in group.items:  # keep the dead-channel vectors aligned with the new channel numbering
            n = names.get(item.dep.target.module)
            if n in dead and graph.is_out_channel_pruning_fn(item.dep.handler):
                keep = torch.ones(len(dead[n]), dtype=torch.bool)
                keep[list(item.idxs)] = False
                dead[n] = dead[n][keep]
    for n, m in pruned.named_modules():
        m.training = modes.get(n, m.training)
    for p in pruned.parameters():
        p.grad = None
    pruned.channel_spec = channel_spec(pruned)
    channels = {n: [before[n], out_size(m)] for n, m in pruned.named_modules() if n in before}
    report: dict[str, Any] = {
        "removed": {n: b - a for n, (b, a) in channels.items() if a != b},
        "channels": channels,
        "skipped": skipped,
        "params_before": count_parameters(model),
        "params_after": count_parameters(pruned),
        "max_abs_diff": None,
    }
    if atol is not None:
        was_training = {m: m.training for m in pruned.modules()}
        pruned.eval()
        with torch.no_grad():
            out = pruned(*example_inputs)
        for m, training in was_training.items():
            m.training = training
        if not isinstance(out, Tensor) or out.shape != reference.shape:
            raise UserError(f"channel removal changed the output shape: {tuple(reference.shape)} → {tuple(out.shape)}")
        diff = float((out - reference).abs().max()) if out.numel() else 0.0
        report["max_abs_diff"] = diff
        if not diff <= atol:
            raise UserError(
                f"the physically pruned model differs from the masked one by {diff:.3g} (> atol={atol}); a pruned "
                "channel is not dead (e.g. an activation with f(0) != 0 before its consumer)"
            )
    log.info("removed channels: %s; params %d → %d", report["removed"], report["params_before"], report["params_after"])
    return pruned, report


def tp_param_type(group: Any) -> bool:
    """Whether the group touches an unwrapped ``nn.Parameter`` (torch-pruning's own ``prune`` rewires those)."""
    return any(not isinstance(item.dep.target.module, nn.Module) for item in group.items)


def _prune_unique(has_params: bool, group: Any) -> None:
    """``group.prune()`` with each layer's indices de-duplicated: through a reshape (PixelShuffle, a Linear viewed as
    channels) several root channels reach the same index, and torch-pruning's concat bookkeeping would count it once
    per root."""
    if has_params:
        group.prune()
        return
    for item in group.items:
        item.dep(sorted({getattr(i, "idx", i) for i in item.idxs}))


def _prune_group_checked(
    group: Any,
    model: nn.Module,
    example_inputs: tuple[Any, ...],
    reference: Tensor,
    atol: float | None,
    group_width: dict[str, int],
) -> str | None:
    """Prune ``group`` in place, then run ``model`` (eval mode); what went wrong, or ``None`` when the output still
    matches ``reference`` (to ``atol``, or in shape only when ``atol`` is ``None``). ``group_width``: channels per
    group of each GroupNorm (torch-pruning keeps ``num_groups``; whole groups were removed, so it drops)."""
    try:
        _prune_unique(tp_param_type(group), group)
        for name, mod in model.named_modules():
            if isinstance(mod, nn.GroupNorm) and name in group_width:
                mod.num_groups = max(1, mod.num_channels // group_width[name])
        with torch.no_grad():
            out = model(*example_inputs)
    except (RuntimeError, KeyError, IndexError, ValueError) as e:  # shape mismatches surface as any of these
        return describe(e)[:200]
    if not isinstance(out, Tensor) or out.shape != reference.shape:
        return "the output shape changed"
    diff = float((out - reference).abs().max()) if out.numel() else 0.0
    if atol is not None and not diff <= atol:
        return f"the output changed by {diff:.3g}"
    return None


__all__ = ["apply_channel_spec", "channel_spec", "remove_pruned_channels"]
