"""The method (strategy) contract and the standard adversarial steps most Table 1 rows share.

The training loop (``training/loop.py``) owns optimizers, the pruning schedule, masks, logging and checkpoints; a method
only computes losses: ``discriminator_step(batch)`` and ``generator_step(batch)`` return dicts holding ``"loss"`` and
named terms (``"g/gen"``, ``"d/real"``, …) that are logged exactly as returned.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from gancompress.config import MethodCfg, PruneCfg
from gancompress.families.contract import Batch, GanLoss, weighted_sum
from gancompress.methods.frozen import frozen_buffers, replayed_randomness
from gancompress.methods.recovery.batchnorm import has_batchnorm, reestimate_batchnorm
from gancompress.registry import Registry

if TYPE_CHECKING:
    from gancompress.pruning import MaskSet

log = logging.getLogger(__name__)

#: ``MethodCfg`` fields every method reads (besides its own ``options``): the base class acts on them
COMMON_OPTIONS: tuple[str, ...] = ("bn_reestimate",)


class Method:
    """Base strategy. Class attributes declare how ``compress`` prepares the networks (docs/method.md §4 table).

    ``g_init``: ``"orig"`` (g_comp starts as a copy of g_orig) or ``"random"``.
    ``d_init``: ``"orig"`` (d_orig, fine-tuned), ``"random"`` (re-initialised) or ``"none"`` (no discriminator).
    ``schedule``: forces a pruning schedule (``"one_shot"``/``"agp"``); ``None`` uses ``PruneCfg.schedule``.
    ``prunes``: whether g_comp is pruned at all. ``budget``: ``"compress"`` (a fraction of the teacher's steps) or
    ``"full"`` (the teacher's full budget, for rows from random init).
    ``train_d``: ``False`` freezes D (no grads, no optimizer, no D step, buffers restored after every use) while it
    keeps the train mode it was trained in: D_O as a fixed judge (rows i, l; docs/decisions.md "Normalisation mode").
    ``prunes_d``: D gets its own masks at the same sparsity, granularity and schedule as g_comp (rows m, n).
    ``mask_g_grads``: ``False`` lets pruned weights of g_comp keep receiving gradients (row m's regrowth).
    ``options``: the ``MethodCfg`` fields (besides ``name``) the method reads; another field set away from its default
    is warned about, since it would silently change nothing. Every method also reads :data:`COMMON_OPTIONS`.

    Optional hooks the pipeline / loop call: :meth:`build_generator` (g_comp's starting module, e.g. a narrower
    dense net for row c), :meth:`after_optimizer_step` (after G's optimizer step, before masks are re-applied),
    :meth:`recalibrate` (g_comp's weights changed outside the optimizer) and :meth:`extra_g_params` (parameters
    of the method's own, e.g. feature adapters, trained by G's optimizer).
    """

    name: ClassVar[str] = ""
    g_init: ClassVar[str] = "orig"
    d_init: ClassVar[str] = "orig"
    schedule: ClassVar[str | None] = None
    prunes: ClassVar[bool] = True
    budget: ClassVar[str] = "compress"
    train_d: ClassVar[bool] = True
    prunes_d: ClassVar[bool] = False
    mask_g_grads: ClassVar[bool] = True
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: MethodCfg | None = None) -> None:
        self.cfg = cfg or MethodCfg(name=self.name or "self_supervised")
        reads = (*self.options, *COMMON_OPTIONS)
        for key in unread_options(self.cfg, reads):
            log.warning(
                "method.%s = %r has no effect: %s does not read it (its options: %s)",
                key, getattr(self.cfg, key), self.name or type(self).__name__, ", ".join(reads),
            )  # fmt: skip
        self.g_comp: nn.Module | None = None
        self.g_orig: nn.Module | None = None
        self.d: nn.Module | None = None
        self.loss: GanLoss | None = None

    def setup(self, g_comp: nn.Module, g_orig: nn.Module | None, d: nn.Module | None, loss: GanLoss) -> None:
        """Bind the networks. g_orig (and a frozen D) get no gradients and keep the train mode the GAN was trained
        in: their forwards run inside :meth:`teacher_side` / with restored buffers (methods/frozen.py)."""
        self.g_comp, self.g_orig, self.d, self.loss = g_comp, g_orig, d, loss
        if g_orig is not None:
            g_orig.train().requires_grad_(False)  # the mode G_C trains in (docs/decisions.md "Normalisation mode")
        if d is not None and not self.train_d:
            d.train().requires_grad_(False)  # a frozen D_O judges in the mode it learned in (rows i, l)

    @contextmanager
    def teacher_side(self) -> Iterator[None]:
        """The block computing G_O's side of a comparison with G_C (Eq. 7–8's l_O, a distillation target).

        No gradients; G_O's and D's buffers are restored after the block (G_O is frozen; D's running statistics and
        spectral-norm vectors then advance only with G_C's forward); the random streams are forked, so G_C's
        forward after the block draws the same numbers (dropout). With G_C = G_O both sides are then identical:
        L_GC = L_DC = 0 (docs/method.md §1).
        """
        with ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            stack.enter_context(frozen_buffers(self.g_orig, self.d))
            stack.enter_context(replayed_randomness())
            if self.loss is not None and self.g_orig is not None:  # l_O's terms re-apply G_O (StarGAN "rec")
                stack.enter_context(self.loss.generator_scope(self.g_orig))
            yield

    def build_generator(
        self, g_orig: nn.Module, prune: PruneCfg, example_inputs: tuple[Any, ...] | None = None
    ) -> nn.Module:
        """g_comp's starting module (before any re-initialisation): by default a copy of g_orig.
        ``example_inputs``: g_orig's inputs, for rows that trace it (row c at channel granularity)."""
        return copy.deepcopy(g_orig)

    def after_optimizer_step(self, step: int, masks: MaskSet | None, prune: PruneCfg | None) -> None:
        """Called by the loop after G's optimizer step of 0-indexed ``step``, before the masks are re-applied."""

    def recalibrate(self, batches: Callable[[int], list[Batch]]) -> None:
        """Called by the loop when g_comp's weights changed outside the optimizer: after the schedule set new masks
        and after the EMA weights replaced the trained ones at the end. ``batches(n)``: the next ``n`` training
        batches, without advancing the data stream.

        With ``method.bn_reestimate = N`` g_comp's BatchNorm running statistics are reset and re-estimated on N
        batches (docs/pruning.md "Recovery after pruning"). The inputs are the generator inputs of training
        batches, not ``sample_input``, which conditional families draw from held-out data
        (docs/decisions.md "Recovery ingredients"). The global random streams are left as they were, so training
        continues exactly as without the re-estimation. A no-op without BatchNorm.
        """
        n = self.cfg.bn_reestimate
        if not n or self.g_comp is None or self.loss is None or not has_batchnorm(self.g_comp):
            return
        with replayed_randomness():  # noise inputs and dropout draw from a fork of the streams
            reestimate_batchnorm(self.g_comp, [self.loss.generator_input(b) for b in batches(n)])

    def extra_g_params(self) -> list[nn.Parameter]:
        """The method's own parameters trained with g_comp by G's optimizer (never part of the generator); they must
        also be in :meth:`extra_state` to survive ``--resume``. Default: none."""
        return []

    def trainable(self) -> dict[str, list[nn.Parameter]]:
        """Parameters per optimizer (g_comp's, then :meth:`extra_g_params`); no ``"d"`` entry means D is frozen."""
        groups = {"g": [p for p in self.g_comp.parameters() if p.requires_grad] + list(self.extra_g_params())}
        if self.d is not None and self.train_d:
            groups["d"] = [p for p in self.d.parameters() if p.requires_grad]
        return groups

    def discriminator_step(self, batch: Batch) -> dict[str, Any] | None:
        """Standard D update on real data vs g_comp's fakes (its own original GAN objective)."""
        if self.d is None or not self.train_d:
            return None
        with torch.no_grad():
            fake = self.g_comp(*self.loss.generator_input(batch))
        terms = self.loss.discriminator_terms(fake, batch, self.d)
        return {"loss": weighted_sum(terms, self.loss.d_weights), **{f"d/{k}": v.mean() for k, v in terms.items()}}

    def generator_step(self, batch: Batch) -> dict[str, Any]:
        """Standard (plain adversarial) G update through the current D."""
        out = self.g_comp(*self.loss.generator_input(batch))
        terms = self.loss.generator_terms(out, batch, self.d)
        return {"loss": weighted_sum(terms, self.loss.g_weights), **{f"g/{k}": v.mean() for k, v in terms.items()}}


METHODS: Registry[type[Method]] = Registry("method")


def create_method(cfg: MethodCfg) -> Method:
    """Instantiate the strategy ``cfg.name`` with its options (UserError listing valid names otherwise)."""
    return METHODS.get(cfg.name)(cfg)


def unread_options(cfg: MethodCfg, reads: tuple[str, ...]) -> list[str]:
    """The fields of ``cfg`` set away from their defaults that a method reading ``reads`` ignores.

    Example:
        >>> unread_options(MethodCfg(name="dense", lam=1.0, anchor=0.0), ())
        ['lam']
        >>> unread_options(MethodCfg(lam=1.0), ("lam", "reduction", "distance", "eps", "anchor"))
        []
    """
    default = MethodCfg()
    return [
        f.name
        for f in dataclasses.fields(cfg)
        if f.name != "name" and f.name not in reads and getattr(cfg, f.name) != getattr(default, f.name)
    ]
