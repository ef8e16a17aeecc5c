"""CycleGAN family: unpaired translation between two domains with cycle and identity losses (Zhu et al. 2017).

Task (docs/method.md §6): sneaker ↔ ankle boot on Fashion-MNIST (``data.name = "fashion_mnist_unpaired"``,
``data.classes = [7, 9]`` as (A, B); data/unpaired.py). Batches carry target-domain images as ``"real"`` and
independently drawn source-domain images as ``"source"``; ``data.direction`` says which domain is which.

Adversarial loss: least squares (LSGAN), as CycleGAN trains (Zhu et al. §4, "Training details": more stable than the
log-likelihood loss and better results). Its terms are non-negative and bounded away from 0 on a balanced game, so
Eq. 7's relative errors |l_O − l_C| / |l_O| stay well conditioned.

**Teacher** (:class:`CycleGANLoss`, the composite pair of models/cyclegan.py trained in the one loop):
G terms ``gen_ab`` = (D_B(G_AB(a)) − 1)², ``gen_ba`` likewise through D_A, ``cycle_a`` = ‖G_BA(G_AB(a)) − a‖₁,
``cycle_b``, ``idt_a`` = ‖G_BA(a) − a‖₁, ``idt_b`` = ‖G_AB(b) − b‖₁ with λ_cyc = 10 and λ_idt = 0.5·λ_cyc;
D terms ``real_a``/``fake_a``/``real_b``/``fake_b``, ½ each (Zhu et al. halve D's objective). Eq. 8's fake-dependent
D terms are ``fake_a`` and ``fake_b``.

**Compression of one direction** (:meth:`CycleGANFamily.select`; Table 2 reports each direction, docs/method.md §5):
for A → B the student is G_AB judged by D_B (the discriminator of the *target* domain), and
:class:`CycleDirectionLoss` has G terms ``gen`` (through that D), ``cycle`` = ‖G_BA(G(a)) − a‖₁ through the
teacher's reverse generator — frozen: a fixed copy, no gradient reaches its parameters, only through it to G's
output — and ``idt`` = ‖G(b) − b‖₁; D terms ``real`` / ``fake``. With Eq. 7 the student's cycle term is held to the
teacher's: G_C must stay invertible by the same G_BA that inverted G_O.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from gancompress.config import DataCfg, ModelCfg
from gancompress.data import ImageDataset
from gancompress.errors import UserError
from gancompress.families.contract import (
    FAMILIES,
    Batch,
    EvalInputs,
    Family,
    GanLoss,
    SourceImageLoss,
    draw_batch,
    per_sample,
)
from gancompress.models.build import create_model
from gancompress.models.cyclegan import CycleDiscriminators, CycleGenerators, init_cyclegan_weights

if TYPE_CHECKING:
    from gancompress.config import RunCfg

log = logging.getLogger(__name__)

LAMBDA_CYC = 10.0  # Zhu et al. §4: λ = 10
LAMBDA_IDT = 0.5 * LAMBDA_CYC  # Zhu et al. §5.2 / reference code: identity weight 0.5·λ


def _ls(scores: torch.Tensor, target: float) -> torch.Tensor:
    """Least-squares GAN loss per sample: mean over D's patches of (score − target)²."""
    return per_sample((scores - target) ** 2)


def _l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return per_sample((x - y).abs())


class _UnpairedLoss(SourceImageLoss):
    """Shared input handling: ``source`` images in, held-out sources for evaluation and sample grids."""

    #: LSGAN scores are not logits: the diagnostics read them like a critic (means, midpoint accuracy)
    score_kind = "critic"
    missing_source = (
        "cyclegan needs unpaired two-domain data (batch key 'source'): use a '<base>_unpaired' dataset, "
        "e.g. --data fashion_mnist_unpaired --set data.classes=7,9"
    )

    def __init__(self, direction: str, image_shape: tuple[int, int, int], generator: nn.Module | None = None) -> None:
        self.direction, self.image_shape, self.generator = direction, tuple(image_shape), generator

    def _gen(self) -> nn.Module:
        if self.generator is None:
            raise UserError("cyclegan's cycle / identity terms need the generator: make_loss(g, d) or generator_scope")
        return self.generator

    def placeholder_source(self, n: int, device: torch.device | str) -> torch.Tensor:
        return torch.zeros(n, *self.image_shape, device=device)

    def eval_split(self, data: ImageDataset) -> tuple[torch.Tensor | None, None]:
        """Inputs: the rows carrying distinct source images (a smaller source domain is cycled over the target
        rows, data/unpaired.py); reference: every target-domain image. Sources and targets are different classes,
        so no input is ever part of the reference set (docs/method.md §7)."""
        index = data.extras.get("source_index")
        if index is None:
            return None, None
        _, inverse = torch.unique(index, return_inverse=True)
        first = torch.full((int(inverse.max()) + 1,), len(index), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(len(index)), reduce="amin")
        return torch.sort(first).values, None

    def eval_pool_size(self, data: ImageDataset) -> int | None:
        rows = self.eval_split(data)[0]
        return len(data) if rows is None else len(rows)

    def _eval_batch(self, data: ImageDataset, n: int, generator: torch.Generator, device: torch.device | str) -> Batch:
        rows = self.eval_split(data)[0]
        return draw_batch(data if rows is None else data.subset(rows), n, generator, device)


class CycleDirectionLoss(_UnpairedLoss):
    """One direction source → target: LSGAN through the target domain's D, cycle through the frozen reverse G, identity.

    ``reverse``: the teacher's generator of the other direction, or ``None`` (then there is no ``cycle`` term: a
    compressed generator evaluated or benchmarked on its own).
    """

    d_weights: ClassVar[dict[str, float]] = {"real": 0.5, "fake": 0.5}  # D's loss ÷ 2 (Zhu et al. §4)

    def __init__(
        self,
        direction: str,
        image_shape: tuple[int, int, int],
        generator: nn.Module | None = None,
        reverse: nn.Module | None = None,
    ) -> None:
        super().__init__(direction, image_shape, generator)
        self.reverse = reverse
        if reverse is not None:  # frozen: a fixed judge of invertibility, never trained (no grad to its parameters)
            reverse.eval().requires_grad_(False)
        self.g_weights = {"gen": 1.0, "idt": LAMBDA_IDT, **({"cycle": LAMBDA_CYC} if reverse is not None else {})}

    def eval_inputs(
        self, data: ImageDataset | None, n: int, generator: torch.Generator, device: torch.device | str
    ) -> EvalInputs:
        """Held-out source images; ``target_label`` = the target domain's class (target accuracy: "is it a boot?")."""
        if data is None:
            raise UserError("cyclegan evaluation translates held-out source images: pass the test split")
        batch = self._eval_batch(data, n, generator, device)
        return EvalInputs((self._source(batch),), target_label=batch.get("label"))

    def _cycle(self, g_out: torch.Tensor, batch: Batch) -> torch.Tensor:
        reverse = self.reverse
        if next(reverse.parameters()).device != g_out.device:
            reverse.to(g_out.device)
        return _l1(reverse(g_out), self._source(batch))  # Zhu et al. Eq. 2, gradient only into g_out

    def _g_terms(self, scores: torch.Tensor, g_out: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        real = batch["real"]
        terms = {"gen": _ls(scores, 1.0), "idt": _l1(self._gen()(real), real)}
        if self.reverse is not None:
            terms["cycle"] = self._cycle(g_out, batch)
        return terms

    def generator_terms(self, g_out: torch.Tensor, batch: Batch, d: nn.Module) -> dict[str, torch.Tensor]:
        return self._g_terms(d(g_out), g_out, batch)

    def discriminator_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module, *, fake_only: bool = False
    ) -> dict[str, torch.Tensor]:
        terms = {"fake": _ls(d(g_out), 0.0)}
        if not fake_only:
            terms["real"] = _ls(d(batch["real"]), 1.0)
        return terms

    def fake_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        scores = d(g_out)  # one D forward serves Eq. 7 ("gen") and Eq. 8 ("fake")
        return self._g_terms(scores, g_out, batch), {"fake": _ls(scores, 0.0)}


class CycleGANLoss(_UnpairedLoss):
    """The teacher's loss over both directions; ``g_out`` = G_AB(a), the composite's forward (models/cyclegan.py)."""

    g_weights: ClassVar[dict[str, float]] = {
        "gen_ab": 1.0,
        "gen_ba": 1.0,
        "cycle_a": LAMBDA_CYC,
        "cycle_b": LAMBDA_CYC,
        "idt_a": LAMBDA_IDT,
        "idt_b": LAMBDA_IDT,
    }
    d_weights: ClassVar[dict[str, float]] = {"real_a": 0.5, "fake_a": 0.5, "real_b": 0.5, "fake_b": 0.5}

    def _domains(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(domain-A images, domain-B images) of a batch, whichever direction the data serves."""
        source = self._source(batch)
        return (source, batch["real"]) if self.direction == "a2b" else (batch["real"], source)

    def generator_input(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        return (self._domains(batch)[0],)

    def eval_inputs(
        self, data: ImageDataset | None, n: int, generator: torch.Generator, device: torch.device | str
    ) -> EvalInputs:
        """Held-out domain-A images (the composite translates A → B; evaluate one direction via ``select``)."""
        if data is None:
            raise UserError("cyclegan evaluation translates held-out source images: pass the test split")
        return EvalInputs(self.generator_input(self._eval_batch(data, n, generator, device)))

    def _fake_a(self, b: torch.Tensor, grad: bool) -> torch.Tensor:
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            return self._gen().g_ba(b)

    def _terms(self, fake_b: torch.Tensor, batch: Batch, d: nn.Module):
        g = self._gen()
        a, b = self._domains(batch)
        fake_a = g.g_ba(b)
        s_b, s_a = d.d_b(fake_b), d.d_a(fake_a)
        g_terms = {
            "gen_ab": _ls(s_b, 1.0),
            "gen_ba": _ls(s_a, 1.0),
            "cycle_a": _l1(g.g_ba(fake_b), a),  # Zhu et al. Eq. 2, forward cycle
            "cycle_b": _l1(g.g_ab(fake_a), b),  # backward cycle
            "idt_a": _l1(g.g_ba(a), a),  # G_BA leaves A images unchanged (Zhu et al. §5.2)
            "idt_b": _l1(g.g_ab(b), b),
        }
        return g_terms, {"fake_a": _ls(s_a, 0.0), "fake_b": _ls(s_b, 0.0)}

    def generator_terms(self, g_out: torch.Tensor, batch: Batch, d: nn.Module) -> dict[str, torch.Tensor]:
        return self._terms(g_out, batch, d)[0]

    def discriminator_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module, *, fake_only: bool = False
    ) -> dict[str, torch.Tensor]:
        a, b = self._domains(batch)
        fake_a = self._fake_a(b, grad=g_out.requires_grad)  # D step: g_out is detached, so is G_BA's fake
        terms = {"fake_a": _ls(d.d_a(fake_a), 0.0), "fake_b": _ls(d.d_b(g_out), 0.0)}
        if not fake_only:
            terms["real_a"] = _ls(d.d_a(a), 1.0)
            terms["real_b"] = _ls(d.d_b(b), 1.0)
        return terms

    def fake_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        return self._terms(g_out, batch, d)

    def discriminator_scores(self, d: nn.Module, images: torch.Tensor, batch: Batch) -> torch.Tensor:
        return per_sample(d.d_b(images))  # the loop's diagnostics see B images: real B and G_AB(a)

    def real_data(self, batch: Batch) -> torch.Tensor:
        return self._domains(batch)[1]


def _image_shape(g: nn.Module) -> tuple[int, int, int]:
    kwargs = g.arch_spec["kwargs"]
    size = int(kwargs.get("image_size", 32))  # only for blank tracing inputs; the generator is fully convolutional
    return int(kwargs.get("channels", 1)), size, size


@FAMILIES.register("cyclegan")
class CycleGANFamily(Family):
    """Both ResNet generators and both PatchGAN discriminators at ``data.image_size``; one direction compressed."""

    name = "cyclegan"

    def build(self, model: ModelCfg, data: DataCfg) -> tuple[nn.Module, nn.Module]:
        g_kwargs = {"channels": data.channels, "ngf": model.ngf, "image_size": data.image_size, **model.g_kwargs}
        g = create_model("cycle_generators", **g_kwargs, batch_direction=data.direction)
        d = create_model("cycle_discriminators", **{"channels": data.channels, "ndf": model.ndf, **model.d_kwargs})
        init_cyclegan_weights(g)
        init_cyclegan_weights(d)
        return g, d

    def make_loss(self, g: nn.Module, d: nn.Module | None) -> GanLoss:
        """The teacher loss for the composite pair, a direction loss (no cycle term) for a single generator."""
        if isinstance(g, CycleGenerators):
            return CycleGANLoss(g.batch_direction, _image_shape(g), generator=g)
        return CycleDirectionLoss(_recorded_direction(g) or "a2b", _image_shape(g), generator=g)

    def select(self, g: nn.Module, d: nn.Module | None, cfg: RunCfg) -> tuple[nn.Module, nn.Module | None, GanLoss]:
        """``cfg.data.direction``'s generator, the target domain's D, and the direction loss (cycle via the reverse G).

        A single-direction generator (a compressed run) is returned as it is, with a loss without the cycle term;
        its recorded direction must match ``cfg.data.direction`` (the data it is scored on depends on it).
        """
        direction = cfg.data.direction
        if isinstance(g, CycleGenerators):
            g_sel, reverse = g.direction(direction), g.direction("b2a" if direction == "a2b" else "a2b")
            d_sel = d.target(direction) if isinstance(d, CycleDiscriminators) else d
            # a private frozen copy: the teacher module itself is left trainable and untouched
            loss = CycleDirectionLoss(direction, _image_shape(g), generator=g_sel, reverse=copy.deepcopy(reverse))
            return g_sel, d_sel, loss
        recorded = _recorded_direction(g)
        if recorded is not None and recorded != direction:
            raise UserError(
                f"this generator translates {recorded} but data.direction is {direction}; "
                f"pass --set data.direction={recorded}"
            )
        if isinstance(d, CycleDiscriminators):
            d = d.target(direction)
        return g, d, CycleDirectionLoss(direction, _image_shape(g), generator=g)

    def init_weights(self, module: nn.Module) -> None:
        init_cyclegan_weights(module)


def _recorded_direction(g: nn.Module) -> str | None:
    """The ``direction`` a single generator recorded in its arch spec (``None`` for user / composite modules)."""
    spec = getattr(g, "arch_spec", None)
    kwargs = spec.get("kwargs", {}) if isinstance(spec, dict) else {}
    return kwargs.get("direction") if isinstance(kwargs, dict) else None
