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
            "channel pruning and physical channel removal need torch-pruning (a gancompress dependency); install "
            "it with: pip install 'torch-pruning>=1.6,<2'"
        ) from None
    return tp


def as_tuple(example_inputs: Any) -> tuple[Any, ...]:
    return tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)


def out_size(layer: nn.Module) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def dependency_graph(tp: Any, model: nn.Module, example_inputs: tuple[Any, ...]) -> Any:
    """Trace ``model`` (torch-pruning switches it to eval; every module's train/eval flag is restored after), with
    pixel (un)shuffles mapped channel to channels (:func:`map_pixel_shuffles`)."""
    modes = {m: m.training for m in model.modules()}
    shapes: dict[nn.Module, list[int]] = {}

    def record(mod: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        shapes[mod] = [int(inputs[0].shape[1]), int(output.shape[1])]

    shuffles = (nn.PixelShuffle, nn.PixelUnshuffle)
    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, shuffles)]
    pruner = _shuffle_pruner(tp, shapes)
    try:
        with torch.enable_grad():  # tracing follows autograd's graph
            graph = tp.DependencyGraph().build_dependency(
                model, example_inputs=example_inputs, verbose=False,
                customized_pruners={nn.PixelShuffle: pruner, nn.PixelUnshuffle: pruner},
            )  # fmt: skip
    finally:
        for h in hooks:
            h.remove()
        for m, training in modes.items():
            m.training = training
    map_pixel_shuffles(graph, shapes)
    return graph


def _shuffle_pruner(tp: Any, shapes: dict[nn.Module, list[int]]) -> Any:
    """A torch-pruning pruning function for ``nn.PixelShuffle`` / ``nn.PixelUnshuffle``: no parameters; its in- and
    out-channels are one coupled index space (its input's), and it reports the traced channel counts so
    torch-pruning sizes the concatenations after it right (it would otherwise assume in = out)."""

    class ShufflePruner(tp.pruner.function.BasePruningFunc):
        def prune_out_channels(self, layer: nn.Module, idxs: Any) -> nn.Module:
            if layer in shapes:
                c_in, c_out = shapes[layer]
                c_in -= len(idxs)
                shapes[layer] = [c_in, c_in * c_out // (c_in + len(idxs))]
            return layer

        prune_in_channels = prune_out_channels

        def get_out_channels(self, layer: nn.Module) -> int | None:
            return shapes.get(layer, [None, None])[1]

        def get_in_channels(self, layer: nn.Module) -> int | None:
            return shapes.get(layer, [None, None])[0]

    return ShufflePruner()


class _Chain:
    """Index mappings applied in order (torch-pruning keeps two slots per dependency; we need a third)."""

    def __init__(self, mappings: list[Any]) -> None:
        self.mappings = [m for m in mappings if m is not None]

    def __call__(self, idxs: Any) -> Any:
        for mapping in self.mappings:
            idxs = mapping(idxs)
        return idxs


def map_pixel_shuffles(graph: Any, shapes: dict[nn.Module, list[int]]) -> int:
    """Give every ``nn.PixelShuffle`` / ``nn.PixelUnshuffle`` node of ``graph`` its channel index mapping; returns how
    many it mapped.

    Why: PixelShuffle(r) turns input channels ``c·r² … c·r² + r² − 1`` into output channel ``c`` — a reshape, which
    torch-pruning would otherwise treat as element-wise (channel i in = channel i out). Mapped like torch-pruning's own
    view/flatten mapping (the node indexes its input's channels), a group through it holds all r² inputs of each
    output channel, so SRGAN-style sub-pixel convs can lose whole output channels.
    """
    from torch_pruning.dependency.index_mapping import _FlattenIndexMapping

    mapped = 0
    for module, node in graph.module2node.items():
        if module not in shapes:
            continue
        c_in, c_out = shapes[module]
        shuffle = c_in > c_out  # shuffle: C·r² in → C out; unshuffle: C in → C·r² out
        stride = max(c_in, c_out) // max(1, min(c_in, c_out))
        for out in node.outputs:
            for dep in node.dependencies:
                if dep.target is out:
                    dep.index_mapping[0] = _FlattenIndexMapping(stride, reverse=shuffle)
            for dep in out.dependencies:
                if dep.target is node:
                    # the consumer's own mapping (a concat's slice) runs first, in its index space; then ours
                    dep.index_mapping = [_Chain(dep.index_mapping), _FlattenIndexMapping(stride, reverse=not shuffle)]
        mapped += 1
    return mapped


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
