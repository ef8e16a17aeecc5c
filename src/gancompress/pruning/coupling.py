"""Which norm layers consume a pruned layer's output channels (filter pruning masks them too; physical removal
shrinks them), and the torch-pruning tracing helpers :mod:`gancompress.pruning.physical` shares.

Example:
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.BatchNorm2d(8), nn.Conv2d(8, 3, 3))
    >>> coupled_norms(net, {"0": net[0], "3": net[3]})
    {'0': ['2'], '3': []}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from gancompress.errors import UserError
from gancompress.pruning.mask_buffers import NORM_TYPES

log = logging.getLogger(__name__)

CONV = nn.modules.conv._ConvNd


def torch_pruning() -> Any:
    try:
        import torch_pruning as tp
    except ImportError:
        raise UserError(
            "physical channel removal needs torch-pruning; install it with: pip install 'gancompress[export]'"
        ) from None
    return tp


def as_tuple(example_inputs: Any) -> tuple[Any, ...]:
    return tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)


def out_size(layer: nn.Module) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def dependency_graph(tp: Any, model: nn.Module, example_inputs: tuple[Any, ...]) -> Any:
    """Trace ``model`` (torch-pruning switches it to eval; every module's train/eval flag is restored after)."""
    modes = {m: m.training for m in model.modules()}
    try:
        with torch.enable_grad():  # tracing follows autograd's graph
            return tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs, verbose=False)
    finally:
        for m, training in modes.items():
            m.training = training


def coupled_norms(
    model: nn.Module, targets: Mapping[str, nn.Module], example_inputs: tuple[Any, ...] | None = None
) -> dict[str, list[str]]:
    """For each target layer, the BatchNorm / InstanceNorm layers that directly consume its output channels.

    "Directly" = reached from the layer through single-input element-wise / reshape ops only (activations, dropout,
    upsampling, InstanceNorm's internal reshape: they keep a dead channel at zero, given ``f(0) = 0``), with
    ``num_features`` equal to the layer's output channels.

    # DECISION: with ``example_inputs`` the data flow is traced (torch-pruning ``DependencyGraph``), which is exact for
    # any forward(); without them (or without torch-pruning) the norm is the next norm module in ``named_modules``
    # order with matching ``num_features``, looking no further than the next prunable layer. Module order is
    # definition order, which matches data flow in Sequential-style generators (DCGAN, pix2pix, CycleGAN).

    Args:
        model: The model holding the targets.
        targets: ``{qualified name: layer}`` (Conv2d / ConvTranspose2d / Linear).
        example_inputs: Positional inputs of ``model`` for tracing, or ``None``.

    Returns:
        ``{target name: [norm names]}`` (an empty list when nothing consumes it that way).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.BatchNorm2d(8), nn.Conv2d(8, 3, 3))
        >>> coupled_norms(net, {"0": net[0], "3": net[3]})
        {'0': ['2'], '3': []}
    """
    names = {m: n for n, m in model.named_modules()}
    if example_inputs is not None:
        try:
            tp = torch_pruning()
        except UserError:
            log.warning("torch-pruning is not installed; coupling norm layers by module order instead of tracing")
        else:
            graph = dependency_graph(tp, model, as_tuple(example_inputs))
            passthrough = {tp.ops.OPTYPE.ELEMENTWISE, tp.ops.OPTYPE.RESHAPE, tp.ops.OPTYPE.PRELU}
            # Nodes carrying input data = everything downstream of a model layer; the rest is parameter arithmetic
            # (InstanceNorm's γ.repeat(), …) that must not count as a second input.
            feature = [nd for nd in graph.module2node.values() if nd.module in names]
            features: set[Any] = set()
            while feature:
                nd = feature.pop()
                if nd not in features:
                    features.add(nd)
                    feature.extend(nd.outputs)

            found: dict[str, list[str]] = {}
            for name, layer in targets.items():
                node = graph.module2node.get(layer)
                stack, seen, found[name] = list(node.outputs) if node else [], set(), []
                while stack:
                    nd = stack.pop()
                    if nd in seen:
                        continue
                    seen.add(nd)
                    if isinstance(nd.module, NORM_TYPES):
                        if nd.module.num_features == out_size(layer) and nd.module in names:
                            found[name].append(names[nd.module])
                    elif nd.type in passthrough and len(set(nd.inputs) & features) == 1:
                        stack.extend(nd.outputs)
            return found
    order = list(model.named_modules())
    index = {n: i for i, (n, _) in enumerate(order)}
    found = {}
    for name, layer in targets.items():
        found[name] = []
        for _, mod in order[index[name] + 1 :]:
            if isinstance(mod, NORM_TYPES):
                if mod.num_features == out_size(layer):
                    found[name].append(names[mod])
                break
            if isinstance(mod, (CONV, nn.Linear)):
                break
    return found
