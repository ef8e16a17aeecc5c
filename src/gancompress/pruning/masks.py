"""``MaskSet``: pruning masks kept as ``weight_mask`` buffers on the pruned modules themselves.

Because the masks are buffers of the modules they prune, they move with ``model.to(device)``, appear in
``model.state_dict()`` as ``<module>.weight_mask`` (so safetensors checkpoints carry them), are broadcast by DDP, and
need no global state: one MaskSet per model, rebuilt from the buffers with :meth:`MaskSet.from_model` after loading.

The loop (train.py) uses it as: ``update(sparsity)`` when the schedule says so → ``backward`` → ``mask_grads()`` →
``optimizer.step()`` → ``apply()`` (Adam's momentum would otherwise revive pruned weights).

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

import fnmatch
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.pruning.granularity import PRUNABLE_TYPES, Granularity, make_granularity
from gancompress.pruning.importance import Importance, get_importance

log = logging.getLogger(__name__)

MASK_NAME = "weight_mask"
_MASK_SUFFIX = "." + MASK_NAME


def _matches(name: str, pattern: str) -> bool:
    """Exclusion rule: exact name, its parent (``"dec"`` excludes ``"dec.0"``), a prefix ending in ``.``, or fnmatch."""
    if name == pattern or name.startswith(pattern if pattern.endswith(".") else pattern + "."):
        return True
    return any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(name, pattern)


def _prunable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, mod) for name, mod in model.named_modules() if isinstance(mod, PRUNABLE_TYPES)]


def _new_mask(module: nn.Module) -> Tensor:
    weight = module.weight
    return torch.ones(weight.shape, dtype=weight.dtype, device=weight.device)


class MaskSet:
    """The masks of one model: ``{qualified module name: module}`` whose ``weight_mask`` buffers prune ``weight``.

    Build it with :meth:`attach` (fresh model) or :meth:`from_model` (model whose buffers were loaded).

    Attributes:
        granularity: The granularity used by :meth:`update` unless another is given.
        target_sparsity: The sparsity passed to the last :meth:`update` (``None`` before the first).
    """

    def __init__(self, targets: dict[str, nn.Module], granularity: Granularity) -> None:
        self._targets = dict(targets)
        self.granularity = granularity
        self.target_sparsity: float | None = None

    # ---------------------------------------------------------------- construction
    @classmethod
    def attach(
        cls, model: nn.Module, *, exclude: Iterable[str] = (), granularity: str | Granularity = "element"
    ) -> MaskSet:
        """Register an all-ones ``weight_mask`` buffer (if absent) on every prunable layer not excluded.

        PAPER §3: targets are every Conv2d, ConvTranspose2d (and Linear) — subclasses included.

        Args:
            model: The model to prune (normally ``g_comp``), not yet DDP-wrapped.
            exclude: Module names that stay dense: exact names, parents (``"head"`` covers ``"head.0"``), prefixes
                ending in ``.``, or fnmatch patterns (``"*.skip"``).
            granularity: Name (see :func:`make_granularity`) or instance; checked against every target.

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
        unused = [p for p in patterns if not any(_matches(n, p) for n in all_names)]
        if unused:
            raise UserError(
                f"prune.exclude entries match no module: {', '.join(map(repr, unused))}; prunable layers: "
                f"{', '.join(name for name, _ in candidates)}"
            )
        targets = {name: mod for name, mod in candidates if not any(_matches(name, p) for p in patterns)}
        if not targets:
            raise UserError(f"prune.exclude {list(patterns)} excludes every prunable layer; nothing left to prune")
        for name, mod in targets.items():
            if isinstance(mod.weight, nn.parameter.UninitializedParameter):
                raise UserError(f"layer {name!r} is lazy and uninitialised; run one forward pass before pruning")
            if hasattr(mod, "weight_orig"):
                raise UserError(
                    f"layer {name!r} carries torch.nn.utils.prune state; call torch.nn.utils.prune.remove first"
                )
            gran.check(mod, name)
        for mod in targets.values():
            if MASK_NAME not in mod._buffers:
                mod.register_buffer(MASK_NAME, _new_mask(mod))
        skipped = [name for name, _ in candidates if name not in targets]
        log.info("pruning %d layers at %s granularity; dense: %s", len(targets), gran.name, skipped or "none")
        return cls(targets, gran)

    @classmethod
    def from_model(cls, model: nn.Module, *, granularity: str | Granularity = "element") -> MaskSet:
        """Rebuild the MaskSet from existing ``weight_mask`` buffers (e.g. after ``load_state_dict``).

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
        return cls(targets, make_granularity(granularity))

    @staticmethod
    def ensure_mask_buffers(model: nn.Module, state_dict_keys: Iterable[str]) -> list[str]:
        """Give ``model`` an all-ones ``weight_mask`` for every ``<module>.weight_mask`` key it lacks.

        Lets a freshly built model ``load_state_dict(sd, strict=True)`` a pruned checkpoint. Keys whose module does
        not exist are skipped (``load_state_dict`` then reports them).

        Args:
            model: Freshly built model.
            state_dict_keys: Keys of the state dict about to be loaded.

        Returns:
            Names of the modules that received a buffer.
        """
        added = []
        for key in state_dict_keys:
            if not key.endswith(_MASK_SUFFIX):
                continue
            mod_name = key[: -len(_MASK_SUFFIX)]
            try:
                mod = model.get_submodule(mod_name)
            except AttributeError:
                continue
            if MASK_NAME in mod._buffers or not isinstance(getattr(mod, "weight", None), Tensor):
                continue
            mod.register_buffer(MASK_NAME, _new_mask(mod))
            added.append(mod_name)
        return added

    # ---------------------------------------------------------------- pruning
    @torch.no_grad()
    def update(
        self,
        sparsity: float,
        *,
        importance: str | Importance = "magnitude",
        granularity: str | Granularity | None = None,
        generator: torch.Generator | None = None,
    ) -> float:
        """Recompute every mask from the current weights at ``sparsity`` (uniform per layer) and apply it.

        Scores come from the raw weights: already-pruned weights are zero, so under magnitude they stay lowest.

        Args:
            sparsity: Fraction of units to prune in each layer, in [0, 1).
            importance: Criterion name (``magnitude``, ``l2``, ``random``) or callable.
            granularity: Overrides (and replaces) ``self.granularity`` when given.
            generator: RNG for the ``random`` criterion.

        Returns:
            The achieved overall sparsity.
        """
        if not 0.0 <= float(sparsity) < 1.0:
            raise UserError(f"sparsity must be in [0, 1), got {sparsity}")
        score_fn = get_importance(importance)
        if granularity is not None:
            gran = make_granularity(granularity)
            for name, mod in self._targets.items():
                gran.check(mod, name)
            self.granularity = gran
        for name, mod in self._targets.items():
            scores = score_fn(mod.weight.detach(), generator=generator)
            mask = self.granularity.mask(scores, float(sparsity), mod, name)
            getattr(mod, MASK_NAME).copy_(mask)
        self.target_sparsity = float(sparsity)
        self.apply()
        achieved = self.overall_sparsity()
        log.debug("masks updated: target %.4f, achieved %.4f", sparsity, achieved)
        return achieved

    @torch.no_grad()
    def apply(self) -> None:
        """``weight *= mask`` for every target; call after every optimizer step."""
        for mod in self._targets.values():
            mod.weight.mul_(getattr(mod, MASK_NAME))

    @torch.no_grad()
    def mask_grads(self) -> None:
        """``grad *= mask`` for every target weight that has a gradient; call after ``backward``."""
        for mod in self._targets.values():
            if mod.weight.grad is not None:
                mod.weight.grad.mul_(getattr(mod, MASK_NAME))

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


def count_parameters(model: nn.Module) -> int:
    """Number of parameter elements (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero(model: nn.Module) -> int:
    """Number of non-zero parameter elements over all parameters."""
    return sum(int(p.detach().count_nonzero()) for p in model.parameters())
