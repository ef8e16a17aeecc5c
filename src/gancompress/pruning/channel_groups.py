"""Coupling groups for channel pruning: which channels of which layers go together, in what units, how important
each unit is, and which units a ratio removes (docs/pruning.md "Channel pruning").

A *coupling group* is every tensor dimension tied to one channel index: the output channels of all the layers summed
into one residual stream, a concatenation's slice and the convs reading it, the norm layers, the consumers' input
channels, a depthwise conv passing the channel through, a Linear reshaped into a conv stem. Torch-Pruning's
``DependencyGraph`` traces them from one forward pass of any model (Fang et al., CVPR'23); this module reads its
groups and adds what exact channel *masking* needs:

- **units**: root channels that can only be removed together, so that the masked model and the physically shrunk one
  compute the same function: the r² channels entering a ``PixelShuffle(r)``, a whole ``GroupNorm`` group (removing
  part of one would change its statistics) and the same position in every group of a grouped convolution;
- **scores** per unit (group L1 / L2, BatchNorm scale, first-order Taylor on the training loss, random);
- **selection** at a ratio: the same ratio in every group (``uniform``) or one threshold over all groups
  (``global``), kept widths rounded to a multiple of ``round_to``;
- **MACs** of a selection, per layer from its kept input and output fractions (exact for Conv / Linear).

Example:
    >>> import torch
    >>> from torch import nn
    >>> class Res(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
    ...         self.out = nn.Conv2d(8, 3, 1)
    ...     def forward(self, x):
    ...         h = self.a(x)
    ...         return self.out(h + self.b(h))
    >>> net = Res()
    >>> groups, skipped = find_channel_groups(net, (torch.randn(1, 3, 8, 8),), {"a": net.a, "b": net.b})
    >>> [(g.root, g.size, sorted(m.name for m in g.members if m.role == "out")) for g in groups]
    [('a', 8, ['a', 'b'])]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gancompress.errors import UserError
from gancompress.pruning.counting import layer_macs
from gancompress.pruning.coupling import CONV, as_tuple, dependency_graph, torch_pruning
from gancompress.pruning.granularity import PRUNABLE_TYPES, canonical

log = logging.getLogger(__name__)

#: norm layers whose per-channel parameters a channel mask zeroes (GroupNorm: whole groups only, see ``units``)
CHANNEL_NORMS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
)
#: importance criteria of channel pruning (``prune.importance``)
CHANNEL_CRITERIA = ("l2", "magnitude", "bn_scale", "taylor", "random")


@dataclass
class Member:
    """One layer's share of a coupling group.

    ``role``: ``out`` (its output channels are the group's: weights, bias), ``in`` (it reads them: input channels),
    ``norm`` (a norm layer on them). ``pairs``: ``(local channel, root channel)`` for every coupled index.
    """

    name: str
    module: nn.Module
    role: str
    pairs: list[tuple[int, int]]

    def pruned_local(self, pruned_roots: set[int]) -> set[int]:
        """The local channels that die when the ``pruned_roots`` do."""
        return {local for local, root in self.pairs if root in pruned_roots}


@dataclass
class ChannelGroup:
    """A coupling group: ``size`` root channels (those of the ``root`` layer), its members and its units."""

    root: str
    size: int
    members: list[Member]
    units: list[list[int]] = field(default_factory=list)

    def producers(self) -> list[Member]:
        """The members whose output channels (weights) the group removes."""
        return [m for m in self.members if m.role == "out"]


# ------------------------------------------------------------------------------------------------- tracing
def find_channel_groups(
    model: nn.Module, example_inputs: Any, targets: Mapping[str, nn.Module]
) -> tuple[list[ChannelGroup], dict[str, str]]:
    """The coupling groups whose output channels only ``targets`` produce, and why the others were left alone.

    Args:
        model: The model (any ``forward``; traced once in eval mode, train flags restored).
        example_inputs: Positional inputs of ``model`` (a tuple; one tensor is accepted).
        targets: ``{name: layer}`` the pruning may change; a group with another producer (an excluded layer, the
            model output) is skipped.

    Returns:
        ``(groups, skipped)``; ``skipped`` maps a group's root layer to the reason it stays whole.
    """
    tp = torch_pruning()
    graph = dependency_graph(tp, model, as_tuple(example_inputs))
    at_output = output_layers(model, as_tuple(example_inputs))
    names = {m: n for n, m in model.named_modules()}
    allowed = set(targets.values())
    ignored = [m for m in model.modules() if isinstance(m, (CONV, nn.Linear)) and m not in allowed]
    groups: list[ChannelGroup] = []
    skipped: dict[str, str] = {}
    for group in graph.get_all_groups(ignored_layers=ignored, root_module_types=[CONV, nn.Linear]):
        root_mod = group.items[0].dep.target.module
        root = names.get(root_mod, type(root_mod).__name__)
        if root_mod not in allowed:
            continue
        members, reason = _members(tp, graph, group, names, allowed)
        if reason is None and any(m.role == "out" and m.module in at_output for m in members):
            reason = "its channels reach the model output"
        if reason is None:
            size = len({r for m in members for _, r in m.pairs if m.module is root_mod and m.role == "out"})
            if any(len({r for _, r in m.pairs}) < size for m in members):
                # several roots reach one channel (PixelShuffle); torch-pruning merges them, keeping one root
                members = _probe_each_root(graph, group, names, members, size)
            found = ChannelGroup(root=root, size=size, members=members)
            found.units = units(found)
            if len(found.units) < 2:
                reason = "its channels can only be removed all together"
        if reason is not None:
            skipped[root] = reason
            log.info("channel pruning leaves the group of %s whole: %s", root, reason)
            continue
        groups.append(found)
    return groups, skipped


def output_layers(model: nn.Module, example_inputs: tuple[Any, ...]) -> set[nn.Module]:
    """The Conv / Linear layers whose output tensor is returned by ``model`` as it is (torch-pruning marks an output
    only when an op follows the last layer)."""
    produced: list[tuple[Any, nn.Module]] = []  # the tensors are kept alive, so identity compares are safe
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: produced.append((out, mod)))
        for m in model.modules()
        if isinstance(m, (CONV, nn.Linear))
    ]
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            out = model(*example_inputs)
    finally:
        for h in hooks:
            h.remove()
        for m, training in modes.items():
            m.training = training
    outs = [out] if isinstance(out, Tensor) else [t for t in (out.values() if isinstance(out, dict) else out)]
    return {mod for t in outs for out, mod in produced if out is t}


def _members(
    tp: Any, graph: Any, group: Any, names: dict[nn.Module, str], allowed: set[nn.Module]
) -> tuple[list[Member], str | None]:
    """The group's layers with their roles, or the reason the group cannot be channel-pruned exactly."""
    by_key: dict[tuple[str, str], Member] = {}
    for item in group.items:
        node, mod = item.dep.target, item.dep.target.module
        if node.type == tp.ops.OPTYPE.OUTPUT:
            # DECISION: never change the model's output shape (an image has exactly C channels)
            return [], "its channels reach the model output"
        if not isinstance(mod, nn.Module) or mod not in names:
            continue  # torch-pruning's op nodes (add, concat, reshape): no parameters of their own
        out = graph.is_out_channel_pruning_fn(item.dep.handler)
        if isinstance(mod, (CONV, nn.Linear)):
            role = "out" if out else "in"
            if role == "out" and mod not in allowed:
                return [], f"{names[mod]!r} produces these channels and is excluded from pruning"
            if parametrize.is_parametrized(mod):
                return [], f"{names[mod]!r} has a parametrized weight (spectral / weight norm)"
            if isinstance(mod, CONV) and mod.transposed and mod.groups > 1:
                return [], f"grouped ConvTranspose {names[mod]!r} (groups={mod.groups}) is unsupported"
        elif isinstance(mod, CHANNEL_NORMS):
            role = "norm"
        elif isinstance(mod, nn.LayerNorm):
            return [], f"LayerNorm {names[mod]!r} normalises over channels, removing one changes the others"
        else:
            continue  # parameter-free or per-channel-only modules (PReLU, activations): f(0) = 0 keeps them dead
        member = by_key.setdefault((names[mod], role), Member(names[mod], mod, role, []))
        member.pairs.extend(zip(item.idxs, item.root_idxs, strict=True))
    for member in by_key.values():
        member.pairs = sorted(set(member.pairs))
    return list(by_key.values()), None


def _probe_each_root(
    graph: Any, group: Any, names: dict[nn.Module, str], members: list[Member], size: int
) -> list[Member]:
    """The members' ``(local, root)`` pairs traced one root channel at a time: exact where several roots share a
    local channel (torch-pruning's merge keeps the first root only)."""
    root = group.items[0].dep
    index = {(m.name, m.role): m for m in members}
    pairs: dict[tuple[str, str], set[tuple[int, int]]] = {key: set() for key in index}
    for r in range(size):
        for item in graph.get_pruning_group(root.target.module, root.handler, [r]).items:
            mod = item.dep.target.module
            if not isinstance(mod, nn.Module) or mod not in names:
                continue
            out = graph.is_out_channel_pruning_fn(item.dep.handler)
            role = "norm" if isinstance(mod, CHANNEL_NORMS) else ("out" if out else "in")
            if (names[mod], role) in pairs:
                pairs[names[mod], role].update((int(getattr(i, "idx", i)), r) for i in item.idxs)
    for key, m in index.items():
        m.pairs = sorted(pairs[key])
    return members


def units(group: ChannelGroup) -> list[list[int]]:
    """Root channels that must be removed together (union-find over the constraints in the module docstring)."""
    parent = list(range(group.size))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union_by(key: dict[Any, int], k: Any, root: int) -> None:
        if k in key:
            parent[find(root)] = find(key[k])
        else:
            key[k] = root

    for m in group.members:
        same_local: dict[Any, int] = {}
        for local, root in m.pairs:
            if root >= group.size:
                continue
            union_by(same_local, local, root)  # several roots on one channel: PixelShuffle's r² inputs
            if isinstance(m.module, nn.GroupNorm):
                union_by(same_local, ("gn", local // (m.module.num_channels // m.module.num_groups)), root)
            elif isinstance(m.module, CONV) and m.module.groups > 1:
                width = m.module.out_channels if m.role == "out" else m.module.in_channels
                if width != m.module.groups:  # not depthwise: each group must lose the same positions
                    union_by(same_local, ("conv", local % (width // m.module.groups)), root)
    blocks: dict[int, list[int]] = {}
    for i in range(group.size):
        blocks.setdefault(find(i), []).append(i)
    return sorted(blocks.values())


# ------------------------------------------------------------------------------------------------- importance
def _per_channel(module: nn.Module, tensor: Tensor, role: str) -> Tensor:
    """``(channels, K)``: ``tensor`` (shaped like the weight) split per output (``out``) or input (``in``) channel."""
    if isinstance(module, nn.Linear):
        return tensor if role == "out" else tensor.t()
    c = canonical(tensor, module)  # (groups, out/g, in/g, kH, kW)
    if role == "out":
        return c.reshape(c.shape[0] * c.shape[1], -1)
    return c.permute(0, 2, 1, 3, 4).reshape(c.shape[0] * c.shape[2], -1)


def _contribution(member: Member, criterion: str) -> Tensor | None:
    """Per-local-channel score of one member (``None``: the criterion does not read this member)."""
    mod = member.module
    if member.role == "norm":
        weight = getattr(mod, "weight", None)
        if not isinstance(weight, Tensor):
            return None
        if criterion == "taylor":
            return None if weight.grad is None else (weight.detach() * weight.grad).abs()
        return weight.detach().abs() if criterion in ("bn_scale", "magnitude") else weight.detach().pow(2)
    if criterion == "bn_scale" or not isinstance(mod, PRUNABLE_TYPES):
        return None
    weight = mod.weight.detach()
    if criterion == "taylor":
        if mod.weight.grad is None:
            return None
        return _per_channel(mod, weight * mod.weight.grad, member.role).sum(dim=1).abs()
    rows = _per_channel(mod, weight, member.role)
    return rows.abs().sum(dim=1) if criterion == "magnitude" else rows.pow(2).sum(dim=1)


def unit_scores(group: ChannelGroup, criterion: str, generator: torch.Generator | None = None) -> Tensor:
    """``(len(units),)`` importance of each unit, normalised by the group mean so groups compare (``global``).

    ``l2`` / ``magnitude``: the group's summed squared / absolute weights of each channel (every producer's filter,
    every consumer's input slice, the norms' γ) — Fang et al.'s group norm; ``bn_scale``: the norms' |γ| (network
    slimming; groups without an affine norm fall back to ``l2``); ``taylor``: |Σ w·∂L/∂w| over the same tensors,
    from the gradients present (Molchanov et al. 2019; without gradients it falls back to ``l2``).
    """
    if criterion not in CHANNEL_CRITERIA:
        raise UserError(f"unknown channel importance {criterion!r}; valid: {', '.join(CHANNEL_CRITERIA)}")
    if criterion == "random":
        return torch.rand(len(group.units), generator=generator)
    total = torch.zeros(group.size, dtype=torch.float64)
    count = torch.zeros(group.size, dtype=torch.float64)
    for member in group.members:
        contribution = _contribution(member, criterion)
        if contribution is None:
            continue
        contribution = contribution.double().cpu()
        for local, root in member.pairs:
            if root < group.size and local < contribution.numel():
                total[root] += contribution[local]
                count[root] += 1
    if not bool(count.any()) and criterion in ("bn_scale", "taylor"):
        return unit_scores(group, "l2")
    per_root = total / count.clamp(min=1)
    mean = per_root.mean()
    per_root = per_root / mean if float(mean) > 0 else per_root
    return torch.stack([per_root[u].mean() for u in group.units]).float()


# ------------------------------------------------------------------------------------------------- selection
def _kept_goal(size: int, ratio: float, round_to: int, smallest_unit: int) -> int:
    """Channels a group keeps at ``ratio``: rounded to a multiple of ``round_to``, at least one unit (and at least
    ``round_to`` when the group is that wide)."""
    kept = size * (1.0 - ratio)
    if round_to > 1:
        kept = round(kept / round_to) * round_to
        kept = max(kept, min(round_to, size))
    return max(round(kept), smallest_unit)


def _prune_lowest(group: ChannelGroup, order: list[int], keep: int) -> set[int]:
    """Root channels pruned when the lowest-scored units (``order``) go until no more than ``keep`` remain."""
    remaining, pruned = group.size, set()
    for u in order:
        unit = group.units[u]
        if remaining - len(unit) < keep:
            continue
        pruned.update(unit)
        remaining -= len(unit)
        if remaining == keep:
            break
    return pruned


def select(
    groups: list[ChannelGroup],
    scores: list[Tensor],
    ratio: float,
    *,
    scope: str = "uniform",
    round_to: int = 1,
) -> list[set[int]]:
    """The pruned root channels of each group at channel ``ratio``.

    ``uniform`` (the paper's per-layer setting, docs/method.md §3): every group keeps ``(1 − ratio)`` of its
    channels. ``global``: one threshold on the normalised unit scores over all groups until ``ratio`` of all
    channels are gone (every group keeps at least one unit); each group's kept width is then rounded.
    """
    if not 0.0 <= ratio < 1.0:
        raise UserError(f"channel pruning ratio must be in [0, 1), got {ratio}")
    if scope not in ("uniform", "global"):
        raise UserError(f"unknown prune.scope {scope!r}; valid values: global, uniform.")
    orders = [torch.sort(s, stable=True).indices.tolist() for s in scores]
    if scope == "uniform":
        ratios = [ratio] * len(groups)
    else:
        flat = sorted(((float(s[u]), gi, u) for gi, s in enumerate(scores) for u in range(len(s))), key=lambda t: t[:2])
        goal = ratio * sum(g.size for g in groups)
        gone = [0] * len(groups)
        removed = 0
        for _, gi, u in flat:
            if removed >= goal:
                break
            g = groups[gi]
            if g.size - gone[gi] - len(g.units[u]) < min(len(x) for x in g.units):
                continue
            gone[gi] += len(g.units[u])
            removed += len(g.units[u])
        ratios = [gone[i] / g.size for i, g in enumerate(groups)]
    out = []
    for g, order, r in zip(groups, orders, ratios, strict=True):
        keep = _kept_goal(g.size, r, round_to, min(len(u) for u in g.units))
        out.append(_prune_lowest(g, order, keep) if keep < g.size else set())
    return out


# ------------------------------------------------------------------------------------------------- MACs
def dense_layer_macs(model: nn.Module, example_inputs: Any) -> dict[str, int]:
    """Per Conv / Linear layer: dense multiply-accumulates of one forward of ``example_inputs``."""
    return {r["name"]: r["macs"] for r in layer_macs(model, as_tuple(example_inputs))}


def kept_fractions(groups: list[ChannelGroup], pruned: list[set[int]]) -> dict[str, tuple[float, float]]:
    """``{layer: (kept input fraction, kept output fraction)}`` for every layer a selection touches (a layer reading a
    concatenation is an input member of several groups: their pruned channels add up)."""
    gone: dict[tuple[str, str], set[int]] = {}
    width: dict[str, tuple[int, int]] = {}
    for g, dead in zip(groups, pruned, strict=True):
        for m in g.members:
            if m.role == "norm":
                continue
            mod = m.module
            linear = isinstance(mod, nn.Linear)
            width[m.name] = (mod.in_features, mod.out_features) if linear else (mod.in_channels, mod.out_channels)
            gone.setdefault((m.name, m.role), set()).update(m.pruned_local(dead))
    return {
        name: (1.0 - len(gone.get((name, "in"), ())) / w_in, 1.0 - len(gone.get((name, "out"), ())) / w_out)
        for name, (w_in, w_out) in width.items()
    }


def selection_macs(
    dense: Mapping[str, int], modules: Mapping[str, nn.Module], groups: list[ChannelGroup], pruned: list[set[int]]
) -> int:
    """MACs after removing ``pruned``: each layer's dense MACs × kept input × kept output fraction (a depthwise conv
    scales with its channels once)."""
    frac = kept_fractions(groups, pruned)
    total = 0.0
    for name, macs in dense.items():
        f_in, f_out = frac.get(name, (1.0, 1.0))
        mod = modules.get(name)
        depthwise = isinstance(mod, CONV) and mod.groups > 1 and mod.groups == mod.in_channels
        total += macs * f_out * (1.0 if depthwise else f_in)
    return round(total)


__all__ = [
    "CHANNEL_CRITERIA",
    "CHANNEL_NORMS",
    "ChannelGroup",
    "Member",
    "dense_layer_macs",
    "find_channel_groups",
    "kept_fractions",
    "select",
    "selection_macs",
    "unit_scores",
    "units",
]
