"""The GAN contract: ``GanLoss`` names a family's loss terms (docs/method.md §2, Eq. 7–8); ``Family`` builds G, D.

Every built-in family is expressed through this interface, so a user's GAN is not a second code path: pass any
generator ``g``, discriminator ``d`` and a ``GanLoss`` subclass to :func:`gancompress.compress`.

Terms are returned **per sample** (shape ``(B,)``) where possible, so Eq. 7 can be reduced per batch or per sample;
a scalar term is accepted and then only the ``batch`` reduction is available.

Conditional families (pix2pix, StarGAN, …) take their generator inputs from data (source images, domains). Two
optional hooks carry that data, with defaults that leave unconditional GANs unchanged:

- :meth:`GanLoss.eval_inputs` draws reproducible evaluation inputs from a held-out split and may return the paired
  ground truth (``target``: PSNR/SSIM) or the class each output should show (``target_label``: target accuracy).
- :meth:`GanLoss.bind_eval_data` attaches a split that :meth:`GanLoss.sample_input` then draws from (sample grids,
  tracing); unbound, a conditional family returns shape-correct placeholder inputs.

Terms that apply a generator again (StarGAN's reconstruction G(G(x, c′), c)) use :attr:`GanLoss.generator`: the
generator given to ``make_loss``; ``compress`` points it at g_comp, and a method computing g_orig's terms (Eq. 7's
l_O) switches it with ``with loss.generator_scope(g_orig): ...``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gancompress.config import DataCfg, ModelCfg
from gancompress.errors import UserError
from gancompress.families.loss_checks import wrap_loss_methods
from gancompress.registry import Registry

if TYPE_CHECKING:
    from gancompress.config import RunCfg
    from gancompress.data import ImageDataset

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class EvalInputs:
    """Reproducible evaluation inputs for ``g(*inputs)`` and what the outputs should match.

    Attributes:
        inputs: positional generator inputs, first dimension = number of samples.
        target: paired ground-truth images, same shape as the outputs (pix2pix, SR), or ``None``.
        target_label: per sample, the dataset label the output should be classified as (StarGAN's target domain),
            or ``None``.
    """

    inputs: tuple[torch.Tensor, ...]
    target: torch.Tensor | None = None
    target_label: torch.Tensor | None = None


def draw_batch(data: ImageDataset, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> Batch:
    """``n`` distinct examples of ``data`` as a loader-style batch (``real``, ``label``, ``index`` and the extras).

    The first ``n`` of a permutation drawn with ``generator``: the same seed gives the same examples for every
    generator, so teacher and student are scored on identical inputs. Asking for more examples than ``data`` holds
    is a ``UserError``: repeated inputs would be scored as if they were new samples (the ``Evaluator`` caps its
    sample count at :meth:`GanLoss.eval_pool_size`; sample grids tile with :func:`tile_inputs`).

    Example:
        >>> from gancompress.data.fake import load_fake
        >>> from gancompress.config import DataCfg
        >>> b = draw_batch(load_fake(DataCfg(name="fake", image_size=8), "test"), 4, torch.Generator().manual_seed(0))
        >>> tuple(b["real"].shape), sorted(b)
        ((4, 1, 8, 8), ['index', 'label', 'real'])
    """
    if n > len(data):
        raise UserError(
            f"{n} evaluation inputs asked of {data.name}/{data.split}, which holds {len(data)}: inputs would repeat; "
            f"use at most {len(data)} (e.g. --set eval.num_samples={len(data)})"
        )
    perm = torch.randperm(len(data), generator=generator)
    return batch_at(data, perm[:n], device)


def tile_inputs(inputs: tuple[torch.Tensor, ...], n: int) -> tuple[torch.Tensor, ...]:
    """``inputs`` repeated along the batch dimension up to ``n`` rows (sample grids from a split smaller than the
    grid; never used for a score)."""
    have = inputs[0].shape[0]
    if have >= n:
        return tuple(x[:n] for x in inputs)
    reps = -(-n // have)
    return tuple(x.repeat(reps, *([1] * (x.dim() - 1)))[:n] for x in inputs)


def stratified_halves(data: ImageDataset, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint halves of ``data``'s indices, split per label (seeded permutation within each class).

    Multi-domain translation draws its evaluation inputs from the first half and compares outputs with real images
    of the second (docs/method.md §7: the generator's inputs never belong to the FID reference set).

    Example:
        >>> from gancompress.data.fake import load_fake
        >>> from gancompress.config import DataCfg
        >>> a, b = stratified_halves(load_fake(DataCfg(name="fake", image_size=8), "test"))
        >>> len(a) + len(b), len(set(a.tolist()) & set(b.tolist()))
        (256, 0)
    """
    gen = torch.Generator().manual_seed(seed)
    labels = data.labels if data.labels is not None else torch.zeros(len(data), dtype=torch.long)
    first, second = [], []
    for c in torch.unique(labels):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        half = (len(idx) + 1) // 2
        first.append(idx[:half])
        second.append(idx[half:])
    return torch.sort(torch.cat(first)).values, torch.sort(torch.cat(second)).values


def batch_at(data: ImageDataset, idx: torch.Tensor, device: torch.device | str = "cpu") -> Batch:
    """The items ``idx`` of ``data`` as the training loader batches them (``real``, ``index``, ``label``, extras)."""
    batch = {"real": data.images[idx].to(device), "index": idx.to(device)}
    if data.labels is not None:
        batch["label"] = data.labels[idx].to(device)
    for key, value in data.extras.items():
        batch[key] = value[idx].to(device)
    return batch


class GanLoss(ABC):
    """Named G and D loss terms of one GAN family, and how a batch becomes generator input.

    Subclasses set ``g_weights`` / ``d_weights`` (the family's own training weights, e.g. StarGAN's α, β, δ) and
    implement the four abstract methods.

    Example (a non-saturating GAN on noise)::

        class MyLoss(GanLoss):
            g_weights = {"gen": 1.0}
            d_weights = {"real": 1.0, "fake": 1.0}
            def generator_input(self, batch): return (torch.randn(len(batch["real"]), 64),)
            def sample_input(self, n, generator, device): return (torch.randn(n, 64, generator=generator).to(device),)
            def generator_terms(self, g_out, batch, d): return {"gen": softplus(-d(g_out))}
            def discriminator_terms(self, g_out, batch, d, *, fake_only=False): ...
    """

    g_weights: Mapping[str, float] = {}
    d_weights: Mapping[str, float] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        wrap_loss_methods(cls)  # what a (user's) subclass returns is checked where it is produced (loss_checks.py)

    #: the generator whose outputs the terms judge, for terms that apply a generator again (StarGAN "rec").
    generator: nn.Module | None = None
    #: held-out data :meth:`sample_input` draws conditions from (conditional families), see :meth:`bind_eval_data`.
    eval_data: ImageDataset | None = None

    @abstractmethod
    def generator_input(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        """Inputs ``x`` for ``g(*x)`` for this batch (noise, source image, target domain…)."""

    @abstractmethod
    def sample_input(self, n: int, generator: torch.Generator, device: torch.device | str) -> tuple[torch.Tensor, ...]:
        """``n`` reproducible inputs drawn with ``generator`` (a CPU ``torch.Generator``): sample grids, tracing.

        Conditional families draw them from :attr:`eval_data` when bound (shape-correct placeholders otherwise).
        """

    @abstractmethod
    def generator_terms(self, g_out: torch.Tensor, batch: Batch, d: nn.Module) -> dict[str, torch.Tensor]:
        """G's loss terms for ``g_out`` judged by ``d`` (e.g. ``{"gen": ..., "cls": ..., "rec": ...}``)."""

    @abstractmethod
    def discriminator_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module, *, fake_only: bool = False
    ) -> dict[str, torch.Tensor]:
        """D's loss terms; with ``fake_only`` only the terms that depend on the fakes (Eq. 8's "dis", "gp")."""

    def fake_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(G terms, fake-dependent D terms) for ``g_out``. Families override this to share one D forward."""
        return self.generator_terms(g_out, batch, d), self.discriminator_terms(g_out, batch, d, fake_only=True)

    def eval_inputs(
        self, data: ImageDataset | None, n: int, generator: torch.Generator, device: torch.device | str
    ) -> EvalInputs:
        """``n`` reproducible evaluation inputs drawn with ``generator``, from held-out ``data`` where the family is
        conditional, plus what the outputs should match. Default (unconditional GANs): :meth:`sample_input`, no target.

        Example (a conditional family)::

            def eval_inputs(self, data, n, generator, device):
                batch = draw_batch(data, n, generator, device)
                return EvalInputs((batch["source"],), target=batch["real"])
        """
        return EvalInputs(tuple(self.sample_input(n, generator, device)))

    #: How outputs are compared with real images: ``"pooled"`` — every output against the whole reference set;
    #: ``"per_target"`` — the outputs aimed at label c (``EvalInputs.target_label``) against the reference images of
    #: label c, averaged over c (multi-domain translation: StarGAN's own protocol; a generator that copies its input
    #: cannot reproduce the reference mixture).
    reference_mode: str = "pooled"

    def eval_split(self, data: ImageDataset) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(indices of ``data`` the evaluation inputs are drawn from, indices of the reference images); ``None`` =
        all of ``data``. Families whose inputs are images of the reference domain keep the two disjoint."""
        return None, None

    def eval_pool_size(self, data: ImageDataset) -> int | None:
        """How many distinct evaluation inputs ``data`` offers (``None``: unlimited, e.g. noise). The evaluator never
        scores more samples than this: a repeated input would count as a new sample."""
        return None

    def bind_eval_data(self, data: ImageDataset | None) -> GanLoss:
        """Attach the split :meth:`sample_input` draws conditions from (no effect for unconditional GANs); ``self``."""
        self.eval_data = data
        return self

    @contextmanager
    def generator_scope(self, g: nn.Module) -> Iterator[GanLoss]:
        """Judge outputs of ``g`` inside the block (terms that re-apply the generator use ``g``, e.g. Eq. 7's l_C)."""
        previous, self.generator = self.generator, g
        try:
            yield self
        finally:
            self.generator = previous

    #: what D outputs: "logit" (sigmoid = P(real)) or "critic" (WGAN, unbounded); used by the diagnostics only.
    score_kind: str = "logit"

    def discriminator_scores(self, d: nn.Module, images: torch.Tensor, batch: Batch) -> torch.Tensor:
        """D's raw real/fake score per sample, shape (B,) (first output if D returns a tuple, e.g. StarGAN)."""
        out = d(images)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.reshape(images.shape[0], -1).mean(1)

    def teacher_as_real(self, batch: Batch, out_o: torch.Tensor) -> Batch:
        """``batch`` in which the teacher's outputs ``out_o`` = G_O(x) play the real images (Table 1 row j: a D that
        tells student from teacher). Default: ``"real"`` replaced; other keys (labels, source images) kept, so D
        judges (condition, G_O(x)) vs (condition, G_C(x)). Families whose ``"real"`` is also G's input (StarGAN)
        override it so that terms about the input still see the input."""
        return {**batch, "real": out_o}

    def real_data(self, batch: Batch) -> torch.Tensor:
        """The real images of a batch (what generated samples are compared against in evaluation)."""
        return batch["real"]


class SourceImageLoss(GanLoss):
    """Image-to-image families (pix2pix, CycleGAN): G translates the batch's ``source`` image.

    Subclasses set :attr:`missing_source` (the error when data has no source images, saying which dataset to use) and
    :attr:`placeholder` (what blank inputs stand for), and implement :meth:`placeholder_source` and ``eval_inputs``.
    """

    missing_source: str = "this family needs batches with source images (batch key 'source')"
    placeholder: str = "blank images"
    _warned: bool = False

    def _source(self, batch: Batch) -> torch.Tensor:
        if "source" not in batch:
            raise UserError(self.missing_source)
        return batch["source"]

    def generator_input(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        return (self._source(batch),)

    def placeholder_source(self, n: int, device: torch.device | str) -> torch.Tensor:
        """Shape-correct stand-in sources when no data is bound (tracing and latency need only shapes)."""
        raise NotImplementedError

    def eval_pool_size(self, data: ImageDataset) -> int | None:
        return len(data)

    def sample_input(self, n: int, generator: torch.Generator, device: torch.device | str) -> tuple[torch.Tensor, ...]:
        if self.eval_data is not None:
            return sample_from_eval(self, n, generator, device)
        if not self._warned:  # images need real sources; say once that these are not
            log.info(
                "%s: no data bound (loss.bind_eval_data), sample inputs are %s", type(self).__name__, self.placeholder
            )
            self._warned = True
        return (self.placeholder_source(n, device),)


def sample_from_eval(loss: GanLoss, n: int, generator: torch.Generator, device: torch.device | str):
    """``n`` sample inputs of a conditional family from its bound ``eval_data`` (tiled when the split is smaller)."""
    pool = loss.eval_pool_size(loss.eval_data)
    k = n if pool is None else max(1, min(n, pool))
    return tile_inputs(tuple(loss.eval_inputs(loss.eval_data, k, generator, device).inputs), n)


def per_sample(t: torch.Tensor) -> torch.Tensor:
    """Mean over every non-batch dim: one value per sample (the loss terms' shape, so Eq. 7–8 can reduce per sample)."""
    return t.flatten(1).mean(1)


def weighted_sum(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """Σ_k w_k · mean(term_k); a term without a weight counts with weight 1."""
    total: torch.Tensor | None = None
    for name, value in terms.items():
        part = weights.get(name, 1.0) * value.mean()
        total = part if total is None else total + part
    if total is None:
        raise UserError("no loss terms to optimise: the loss object returned an empty dict of terms")
    return total


def describe(loss: GanLoss) -> dict[str, Any]:
    """JSON-ready description of a loss object (class and weights), stored in run configs."""
    return {"class": type(loss).__name__, "g_weights": dict(loss.g_weights), "d_weights": dict(loss.d_weights)}


# ---------------------------------------------------------------------------------------------------- families
class Family(ABC):
    """How to build a family's G and D from configs, and its :class:`GanLoss`."""

    name: str = ""

    @abstractmethod
    def build(self, model: ModelCfg, data: DataCfg) -> tuple[nn.Module, nn.Module]:
        """Freshly initialised (generator, discriminator)."""

    @abstractmethod
    def make_loss(self, g: nn.Module, d: nn.Module) -> GanLoss:
        """The loss object for this pair (reads sizes such as ``nz`` from ``g.arch_spec``)."""

    def select(self, g: nn.Module, d: nn.Module | None, cfg: RunCfg) -> tuple[nn.Module, nn.Module | None, GanLoss]:
        """What one compression / evaluation run works on: (generator, its discriminator, loss) of a trained pair.

        Default: the pair as it is. A family whose teacher holds several generators (CycleGAN: G_AB, G_BA and
        D_A, D_B) returns the one selected by ``cfg`` (one translation direction) with the matching D and a loss
        whose extra terms may use the others frozen (the cycle term through the teacher's reverse generator).
        """
        return g, d, self.make_loss(g, d)

    def init_weights(self, module: nn.Module) -> None:
        """Re-initialise ``module`` as at the start of teacher training (rows from random init)."""
        for m in module.modules():
            if hasattr(m, "reset_parameters") and m is not module:
                m.reset_parameters()


FAMILIES: Registry[type[Family]] = Registry("family")


def get_family(name: str) -> Family:
    """Instantiate the registered family ``name`` (UserError listing valid names otherwise)."""
    return FAMILIES.get(name)()
