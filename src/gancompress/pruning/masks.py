"""``MaskSet``: pruning masks kept as ``weight_mask`` buffers on the pruned modules themselves.

Because the masks are buffers of the modules they prune, they move with ``model.to(device)``, appear in
``model.state_dict()`` as ``<module>.weight_mask`` (so safetensors checkpoints carry them), are broadcast by DDP, and
need no global state: one MaskSet per model, rebuilt from the buffers with :meth:`MaskSet.from_model` after loading.

The loop (training/loop.py) uses it as: ``update(sparsity)`` when the schedule says so → ``backward`` → ``mask_grads()``
→ ``optimizer.step()`` → ``apply()`` (Adam's momentum would otherwise revive pruned weights).

Filter granularity also masks the per-channel parameters coupled to a pruned output channel, so the channel is truly
dead (exactly 0) and the masked model equals the physically smaller one (``physical.remove_pruned_channels``): the
layer's ``bias`` (``bias_mask`` buffer on the layer) and the normalisation layer that directly consumes the channel
(``channel_mask`` buffer on the BatchNorm / InstanceNorm, applied to its affine weight and bias and its running mean).
Without it a BatchNorm in eval mode turns a zeroed channel into the constant ``β − μ·γ/σ``.

Mask buffer names and helpers live in :mod:`.mask_buffers`, parameter counts in :mod:`.counting` (re-exported here).

Example:
    >>> from torch import nn
    >>> g_comp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    >>> masks = MaskSet.attach(g_comp, granularity="element")
    >>> _ = masks.update(0.5)
    >>> round(masks.overall_sparsity(), 3)
    0.5
    >>> sorted(k for k in g_comp.state_dict() if k.endswith("weight_mask"))
    ['0.weight_mask', '2.weight_mask']
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.pruning.allocation import check_policy, layer_sparsities, matches
from gancompress.pruning.counting import count_nonzero, count_parameters  # noqa: F401  (re-exported)
from gancompress.pruning.coupling import coupled_norms
from gancompress.pruning.granularity import PRUNABLE_TYPES, Granularity, make_granularity
from gancompress.pruning.importance import Importance, layer_scores
from gancompress.pruning.mask_buffers import (
    BIAS_MASK_NAME,
    CHANNEL_MASK_NAME,
    MASK_BUFFER_NAMES,  # noqa: F401  (re-exported: moved to mask_buffers.py)
    MASK_NAME,
    NORM_TYPES,  # noqa: F401  (re-exported: moved to mask_buffers.py)
    check_weight_storage,
    ensure_mask_buffers,
    has_channel_state,
    mask_,
    new_mask,
    norm_tensors,
    output_channel_keep,
    register_coupled,
    stored_weight,
)

log = logging.getLogger(__name__)


def _prunable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, mod) for name, mod in model.named_modules() if isinstance(mod, PRUNABLE_TYPES)]


class MaskSet:
    """The masks of one model: ``{qualified module name: module}`` whose ``weight_mask`` buffers prune ``weight``.

    Build it with :meth:`attach` (fresh model) or :meth:`from_model` (model whose buffers were loaded).

    Attributes:
        granularity: The granularity used by :meth:`update` unless another is given.
        target_sparsity: The sparsity passed to the last :meth:`update` (``None`` before the first).
    """

    def __init__(
        self,
        targets: dict[str, nn.Module],
        granularity: Granularity,
        *,
        model: nn.Module | None = None,
        example_inputs: tuple[Any, ...] | None = None,
    ) -> None:
        self._targets = dict(targets)
        self.granularity = granularity
        self.target_sparsity: float | None = None
        # allocation policy (pruning/allocation.py): uniform per layer by default, as in docs/method.md §3
        self.scope = "uniform"
        self.layer_sparsity: dict[str, float] = {}
        self.final_sparsity: float | None = None
        self.last_layer_sparsity: dict[str, float] = {}
        self._warned_short = False  # the "sparsity far below target" warning is given once per MaskSet
        self._model = model
        self._example_inputs = example_inputs
        # target name → names of the norm layers consuming its output channels (filter granularity; lazily built)
        self._coupling: dict[str, list[str]] | None = None
        self._norms: dict[str, nn.Module] = {}
        if model is not None:
            self._norms = {n: m for n, m in model.named_modules() if CHANNEL_MASK_NAME in m._buffers}

    # ---------------------------------------------------------------- construction
    @classmethod
    def attach(
        cls,
        model: nn.Module,
        *,
        exclude: Iterable[str] = (),
        granularity: str | Granularity = "element",
        example_inputs: tuple[Any, ...] | None = None,
    ) -> MaskSet:
        """Register an all-ones ``weight_mask`` buffer (if absent) on every prunable layer not excluded.

        docs/method.md §3: targets are every Conv2d, ConvTranspose2d (and Linear) — subclasses included.

        Args:
            model: The model to prune (normally ``g_comp``), not yet DDP-wrapped.
            exclude: Module names that stay dense: exact names, parents (``"head"`` covers ``"head.0"``), prefixes
                ending in ``.``, or fnmatch patterns (``"*.skip"``).
            granularity: Name (see :func:`make_granularity`) or instance; checked against every target.
            example_inputs: Optional inputs (a tuple of positional arguments) for tracing which norm layer consumes
                each layer's output (filter granularity, torch-pruning's ``DependencyGraph``); without them the next
                norm in module order is used (see :func:`gancompress.pruning.coupling.coupled_norms`).

        Returns:
            The MaskSet over the targets.

        Raises:
            UserError: No prunable layers, an ``exclude`` entry matching no module, or a layer the granularity
                cannot prune (the message names the layer).
        """
        gran = make_granularity(granularity)
        patterns = tuple(str(p) for p in exclude)
        candidates = _prunable(model)
        if not candidates:
            raise UserError("model has no prunable layers (Conv2d, ConvTranspose2d, Linear)")
        all_names = [name for name, _ in model.named_modules()]
        unused = [p for p in patterns if not any(matches(n, p) for n in all_names)]
        if unused:
            raise UserError(
                f"prune.exclude entries match no module: {', '.join(map(repr, unused))}; prunable layers: "
                f"{', '.join(name for name, _ in candidates)}"
            )
        targets = {name: mod for name, mod in candidates if not any(matches(name, p) for p in patterns)}
        if not targets:
            raise UserError(f"prune.exclude {list(patterns)} excludes every prunable layer; nothing left to prune")
        for name, mod in targets.items():
            if isinstance(mod.weight, nn.parameter.UninitializedParameter):
                raise UserError(f"layer {name!r} is lazy and uninitialised; run one forward pass before pruning")
            check_weight_storage(mod, name)  # spectral norm: masks go to the stored weight; others refused
            gran.check(mod, name)
        for mod in targets.values():
            if MASK_NAME not in mod._buffers:
                mod.register_buffer(MASK_NAME, new_mask(mod))
        skipped = [name for name, _ in candidates if name not in targets]
        log.info("pruning %d layers at %s granularity; dense: %s", len(targets), gran.name, skipped or "none")
        masks = cls(targets, gran, model=model, example_inputs=example_inputs)
        if gran.name == "filter":
            masks._couple()
        return masks

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        *,
        granularity: str | Granularity = "element",
        example_inputs: tuple[Any, ...] | None = None,
    ) -> MaskSet:
        """Rebuild the MaskSet from existing ``weight_mask`` (and coupled ``channel_mask``) buffers.

        Raises:
            UserError: The model carries no ``weight_mask`` buffers.
        """
        targets = {
            name: mod
            for name, mod in model.named_modules()
            if MASK_NAME in mod._buffers and mod._buffers[MASK_NAME] is not None
        }
        if not targets:
            raise UserError("model carries no weight_mask buffers; use MaskSet.attach to start pruning it")
        return cls(targets, make_granularity(granularity), model=model, example_inputs=example_inputs)

    ensure_mask_buffers = staticmethod(ensure_mask_buffers)  # defined in mask_buffers.py (loading pruned checkpoints)

    # ---------------------------------------------------------------- coupled channels (filter granularity)
    def _couple(self) -> dict[str, list[str]]:
        """Find (once) and give buffers to the per-channel tensors coupled to each target's output channels."""
        if self._coupling is not None:
            return self._coupling
        coupling: dict[str, list[str]] = {name: [] for name in self._targets}
        if self._model is not None:
            coupling = coupled_norms(self._model, self._targets, self._example_inputs)
        for name, mod in self._targets.items():
            if isinstance(mod.bias, Tensor):
                register_coupled(mod, BIAS_MASK_NAME, mod.bias.shape[0], mod.bias)
            for norm_name in coupling.get(name, []):
                norm = self._model.get_submodule(norm_name)
                if has_channel_state(norm):
                    register_coupled(norm, CHANNEL_MASK_NAME, norm.num_features, norm_tensors(norm)[0])
                    self._norms[norm_name] = norm
        self._coupling = coupling
        return coupling

    def coupled(self) -> dict[str, list[str]]:
        """``{target name: [norm layer names whose channel_mask follows its filters]}`` (filter granularity)."""
        return {k: list(v) for k, v in self._couple().items()}

    # ---------------------------------------------------------------- pruning
    def configure(
        self,
        *,
        scope: str = "uniform",
        layer_sparsity: dict[str, float] | None = None,
        final_sparsity: float | None = None,
    ) -> MaskSet:
        """Set how :meth:`update`'s model-level sparsity is spread over layers (see :mod:`.allocation`).

        Args:
            scope: ``uniform`` (every layer at the target) or ``global`` (one threshold across layers).
            layer_sparsity: ``{pattern: final sparsity}`` overrides for chosen layers.
            final_sparsity: The schedule's final target, so overrides ramp with it.

        Returns:
            ``self``.
        """
        check_policy(self.granularity, scope, dict(layer_sparsity or {}), list(self._targets))
        self.scope, self.layer_sparsity, self.final_sparsity = scope, dict(layer_sparsity or {}), final_sparsity
        return self

    @torch.no_grad()
    def update(
        self,
        sparsity: float,
        *,
        importance: str | Importance = "magnitude",
        granularity: str | Granularity | None = None,
        generator: torch.Generator | None = None,
        example_inputs: tuple[Any, ...] | None = None,
    ) -> float:
        """Recompute every mask from the current weights at model-level ``sparsity`` and apply it.

        How ``sparsity`` spreads over layers follows :meth:`configure` (default: every layer at ``sparsity``).

        Scores come from the raw weights: already-pruned weights are zero, so under magnitude they stay lowest.

        Args:
            sparsity: Fraction of units to prune in each layer, in [0, 1).
            importance: Criterion name (``magnitude``, ``l2``, ``random``; ``bn_scale`` with filter granularity) or
                callable.
            granularity: Overrides (and replaces) ``self.granularity`` when given.
            generator: RNG for the ``random`` criterion.
            example_inputs: Inputs for tracing the coupled norm layers (filter granularity); replaces the ones given
                to :meth:`attach`.

        Returns:
            The achieved overall sparsity.
        """
        if not 0.0 <= float(sparsity) < 1.0:
            raise UserError(f"sparsity must be in [0, 1), got {sparsity}")
        if granularity is not None:
            gran = make_granularity(granularity)
            for name, mod in self._targets.items():
                gran.check(mod, name)
            self.granularity = gran
        if example_inputs is not None:
            self._example_inputs, self._coupling = example_inputs, None
        filt = self.granularity.name == "filter"
        coupling = self._couple() if filt else {}
        scores, norms = {}, {}
        for name, mod in self._targets.items():
            norms[name] = [self._norms[n] for n in coupling.get(name, []) if n in self._norms]
            gname = self.granularity.name
            scores[name] = layer_scores(importance, mod, norms[name], granularity=gname, generator=generator)
        per_layer = layer_sparsities(
            self._targets, scores, self.granularity, float(sparsity), scope=self.scope,
            layer_sparsity=self.layer_sparsity, final_sparsity=self.final_sparsity,
        )  # fmt: skip
        for name, mod in self._targets.items():
            mask = self.granularity.mask(scores[name], per_layer[name], mod, name)
            getattr(mod, MASK_NAME).copy_(mask)
            if not filt:
                continue
            # Filter: the pruned output channels' bias and consuming norm channels die with them.
            keep = output_channel_keep(mod, mask)
            coupled = [mod._buffers.get(BIAS_MASK_NAME)]
            coupled += [norm._buffers[CHANNEL_MASK_NAME] for norm in norms[name]]
            for buf in coupled:
                if buf is not None:
                    buf.copy_(keep)
        if not filt:  # other granularities leave biases and norms alone (masks kept, all ones)
            for mod in [*self._targets.values(), *self._norms.values()]:
                for buf_name in (BIAS_MASK_NAME, CHANNEL_MASK_NAME):
                    if buf_name in mod._buffers:
                        mod._buffers[buf_name].fill_(1.0)
        self.target_sparsity = float(sparsity)
        self.last_layer_sparsity = per_layer
        self.apply()
        achieved = self.overall_sparsity()
        log.debug("masks updated: target %.4f, achieved %.4f", sparsity, achieved)
        self._warn_if_short(float(sparsity), per_layer, achieved)
        return achieved

    def _warn_if_short(self, sparsity: float, per_layer: dict[str, float], achieved: float) -> None:
        """Warn once when the final target comes out at under half: every layer keeps at least one unit, so a model
        of 1-unit layers (filter granularity) stays dense while the run reports it "pruned".

        Ramp steps are skipped (a small early AGP target legitimately rounds to 0 filters per layer). With per-layer
        overrides the target is the size-weighted mean of the per-layer targets, so layers pinned lower are not
        mistaken for a shortfall.
        """
        if self._warned_short or sparsity <= 0.0 or sparsity < (self.final_sparsity or 0.0) - 1e-9:
            return
        expected = sparsity
        if self.layer_sparsity:
            sizes = {name: getattr(mod, MASK_NAME).numel() for name, mod in self._targets.items()}
            total = sum(sizes.values())
            expected = sum(per_layer[n] * k for n, k in sizes.items()) / total if total else 0.0
        if achieved < 0.5 * expected:
            self._warned_short = True
            log.warning(
                "pruning to sparsity %.1f%% achieved only %.1f%% of the pruned layers' weights: layers too small for "
                "this granularity (%s): a layer always keeps at least one unit",
                100 * sparsity, 100 * achieved, self.granularity.name,
            )  # fmt: skip

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the pruned weights (and coupled biases / norm channels); call after every optimizer step."""
        for tensors, mask in self._masked():
            for t in tensors:
                mask_(t, mask)

    @torch.no_grad()
    def mask_grads(self) -> None:
        """``grad *= mask`` for every masked parameter that has a gradient; call after ``backward``."""
        for tensors, mask in self._masked():
            for t in tensors:
                if t.grad is not None:
                    t.grad.mul_(mask)

    def _masked(self) -> Iterator[tuple[list[Tensor], Tensor]]:
        """``(tensors, mask)`` for every mask buffer: weights, coupled biases and norm channels."""
        for mod in self._targets.values():
            yield [stored_weight(mod)], getattr(mod, MASK_NAME)
            bias_mask = mod._buffers.get(BIAS_MASK_NAME)
            if bias_mask is not None and isinstance(mod.bias, Tensor):
                yield [mod.bias], bias_mask
        for norm in self._norms.values():
            mask = norm._buffers.get(CHANNEL_MASK_NAME)
            if mask is not None:
                yield norm_tensors(norm), mask

    # ---------------------------------------------------------------- reporting
    def sparsity_report(self) -> list[dict[str, Any]]:
        """Per target: ``name``, ``kind``, ``shape``, ``numel``, ``nonzero`` (mask entries), ``sparsity``."""
        rows = []
        for name, mod in self._targets.items():
            mask = getattr(mod, MASK_NAME)
            numel = mask.numel()
            nonzero = int(mask.count_nonzero())
            rows.append(
                {
                    "name": name,
                    "kind": type(mod).__name__,
                    "shape": list(mask.shape),
                    "numel": numel,
                    "nonzero": nonzero,
                    "sparsity": 1.0 - nonzero / numel if numel else 0.0,
                }
            )
        return rows

    def overall_sparsity(self) -> float:
        """Fraction of masked-out weights over all targets (weighted by size)."""
        rows = self.sparsity_report()
        total = sum(r["numel"] for r in rows)
        return 1.0 - sum(r["nonzero"] for r in rows) / total if total else 0.0

    def masks(self) -> dict[str, Tensor]:
        """``{module name: mask buffer}`` (the live buffers, not copies)."""
        return {name: getattr(mod, MASK_NAME) for name, mod in self._targets.items()}

    @property
    def names(self) -> list[str]:
        """Qualified names of the pruned modules, in ``named_modules`` order."""
        return list(self._targets)

    @property
    def num_targets(self) -> int:
        """Number of pruned modules."""
        return len(self._targets)

    def items(self) -> Iterator[tuple[str, nn.Module]]:
        """``(name, module)`` pairs of the targets."""
        return iter(self._targets.items())

    def __len__(self) -> int:
        return len(self._targets)

    def __repr__(self) -> str:
        return f"MaskSet({len(self)} layers, granularity={self.granularity.name}, sparsity={self.target_sparsity})"
