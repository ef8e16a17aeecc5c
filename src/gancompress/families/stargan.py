"""StarGAN family: multi-domain translation with WGAN-GP, domain classification and reconstruction (Choi et al. 2018).

The paper's Table 1 task, and the case Eq. 7–8 are written for (docs/method.md §2):

- G terms ``{"gen": −D_src(G(x, c′)), "cls": CE(D_cls(G(x, c′)), c′), "rec": ‖x − G(G(x, c′), c)‖₁}`` with weights
  1, α = λ_cls = 1, β = λ_rec = 10 (Choi et al. Eq. 6).
- D terms ``{"real": −D_src(x), "fake": D_src(G(x, c′)), "cls": CE(D_cls(x), c), "gp": (‖∇D_src(x̂)‖₂ − 1)²}`` with
  weights 1, 1, α = 1, δ = λ_gp = 10. Eq. 8's fake-dependent D terms are ``fake`` and ``gp``.

DECISION (task, docs/method.md §6): domains are Fashion-MNIST classes, by default the three footwear classes (sandal 5,
sneaker 7, ankle boot 9: ``data.classes = [5, 7, 9]`` in configs/stargan_teacher.toml), translated into each
other. It is real data and checkable: the
evaluator's domain classifier (trained on the true labels) measures whether outputs show the *target* class
(``target_accuracy``), FID compares them with the held-out images of those classes, and "rec" checks that the item's
identity survives. Image transformations (inverted / rotated) were the alternative; they are exactly invertible
functions a generator can learn without any GAN, so they say little about compression of a GAN.

The target domain c′ is drawn once per batch (uniformly; Choi et al. shuffle the batch's labels) and stored in the
batch as ``"target_domain"``, so the D step, the G step and Eq. 7's l_O / l_C of one training step share it; so is
the gradient penalty's interpolation weight (``"gp_alpha"``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
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
    draw_batch,
    per_sample,
    sample_from_eval,
    stratified_halves,
)
from gancompress.models.build import create_model

log = logging.getLogger(__name__)

#: Fashion-MNIST's footwear classes: sandal, sneaker, ankle boot (docs/method.md §6 "footwear/tops").
DEFAULT_DOMAINS = (5, 7, 9)


class StarGANLoss(GanLoss):
    """WGAN-GP + domain classification + reconstruction; inputs = (image, one-hot target domain)."""

    g_weights: ClassVar[dict[str, float]] = {"gen": 1.0, "cls": 1.0, "rec": 10.0}  # α = 1, β = 10
    d_weights: ClassVar[dict[str, float]] = {"real": 1.0, "fake": 1.0, "cls": 1.0, "gp": 10.0}  # α = 1, δ = 10
    score_kind = "critic"

    def __init__(self, domain_labels: Sequence[int], image_shape: Sequence[int], generator: nn.Module | None = None):
        self.domain_labels = tuple(int(c) for c in domain_labels)
        self.num_domains = len(self.domain_labels)
        self.image_shape = tuple(int(s) for s in image_shape)  # (C, H, W), for placeholder inputs
        self.generator = generator
        self._lut = torch.full((max(self.domain_labels) + 1,), -1, dtype=torch.long)
        self._lut[list(self.domain_labels)] = torch.arange(self.num_domains)

    # ------------------------------------------------------------------------------------------- domains
    def domain_index(self, labels: torch.Tensor) -> torch.Tensor:
        """Dataset labels → domain indices 0..K-1 (UserError for a label that is not a domain)."""
        lut = self._lut.to(labels.device)
        idx = lut[labels.clamp(0, len(lut) - 1)]
        bad = (idx < 0) | (labels >= len(lut)) | (labels < 0)
        if bool(bad.any()):
            raise UserError(
                f"label {int(labels[bad][0])} is not one of the StarGAN domains {list(self.domain_labels)}; set "
                "data.classes to the domains the generator was trained on"
            )
        return idx

    def one_hot(self, domains: torch.Tensor) -> torch.Tensor:
        return F.one_hot(domains, self.num_domains).float()

    def _target(self, batch: Batch) -> torch.Tensor:
        if "target_domain" not in batch:  # drawn once per batch (see the module docstring)
            real = batch["real"]
            batch["target_domain"] = torch.randint(self.num_domains, (real.shape[0],), device=real.device)
        return batch["target_domain"]

    def _original(self, batch: Batch) -> torch.Tensor:
        if "label" not in batch:
            raise UserError("StarGAN needs labelled data: the label of each image is its domain")
        return self.domain_index(batch["label"])

    # -------------------------------------------------------------------------------------------- inputs
    def generator_input(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        return (batch["real"], self.one_hot(self._target(batch)))

    #: Choi et al.'s evaluation: the outputs translated into domain c are compared with real images of domain c
    reference_mode = "per_target"

    def eval_split(self, data: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs from one half of every domain's held-out images, reference images from the other half.

        DECISION (docs/method.md §7): scored per target domain, an input is never compared with its own domain, and
        the halves make the whole reference set disjoint from every input as well: the previous protocol pooled all
        outputs against all held-out images — the inputs included — so a generator returning its input unchanged
        reproduced the reference mixture and scored FID ≈ 0.
        """
        return stratified_halves(data)

    def eval_pool_size(self, data: ImageDataset) -> int | None:
        return len(self.eval_split(data)[0])

    def eval_inputs(
        self, data: ImageDataset | None, n: int, generator: torch.Generator, device: torch.device | str
    ) -> EvalInputs:
        """Held-out images of the input half, each sent to a *different* domain (DECISION: so target accuracy
        measures translation); ``target_label`` names the domain each output is scored against."""
        if data is None:
            raise UserError("StarGAN evaluation translates held-out images: pass the test split")
        batch = draw_batch(data.subset(self.eval_split(data)[0]), n, generator, device)
        source = self._original(batch)
        shift = torch.randint(1, self.num_domains, (n,), generator=generator).to(source.device)
        target = (source + shift) % self.num_domains
        labels = torch.as_tensor(self.domain_labels, device=source.device)[target]
        return EvalInputs((batch["real"], self.one_hot(target)), target_label=labels)

    def sample_input(self, n: int, generator: torch.Generator, device: torch.device | str) -> tuple[torch.Tensor, ...]:
        if self.eval_data is not None:
            return sample_from_eval(self, n, generator, device)
        # no data bound: shape-only inputs (tracing, latency): blank images, domains in turn
        return (torch.zeros(n, *self.image_shape, device=device), self.one_hot(torch.arange(n) % self.num_domains))

    def teacher_as_real(self, batch: Batch, out_o: torch.Tensor) -> Batch:
        """G_O(x, c′) is a real image *of domain c′* (D's real and cls terms get c′'s label), while the
        reconstruction G(G_C(x, c′), c) must still return to the input x of domain c (``rec_source`` / ``rec_label``).
        """
        target = self._target(batch)
        labels = torch.as_tensor(self.domain_labels, device=target.device)[target]
        return {**batch, "real": out_o, "label": labels, "rec_source": batch["real"], "rec_label": batch["label"]}

    # ---------------------------------------------------------------------------------------------- terms
    def _rec(self, g_out: torch.Tensor, batch: Batch) -> torch.Tensor:
        if self.generator is None:
            raise UserError("StarGAN's reconstruction term needs the generator: make_loss(g, d) or generator_scope(g)")
        source = batch.get("rec_source", batch["real"])  # the input x (teacher_as_real moves it out of "real")
        original = self.domain_index(batch.get("rec_label", batch.get("label")))
        back = self.generator(g_out, self.one_hot(original).to(g_out.device))
        return per_sample((source - back).abs())  # Choi et al. Eq. 4, per sample

    def _g_terms(self, src: torch.Tensor, cls: torch.Tensor, g_out: torch.Tensor, batch: Batch):
        return {
            "gen": -src.mean(1),  # Choi et al. Eq. 1 (WGAN form), per sample
            "cls": F.cross_entropy(cls, self._target(batch), reduction="none"),  # Eq. 3
            "rec": self._rec(g_out, batch),  # Eq. 4
        }

    def generator_terms(self, g_out: torch.Tensor, batch: Batch, d: nn.Module) -> dict[str, torch.Tensor]:
        src, cls = d(g_out)
        return self._g_terms(src, cls, g_out, batch)

    def gradient_penalty(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor, batch: Batch) -> torch.Tensor:
        """(‖∇_x̂ D_src(x̂)‖₂ − 1)² per sample at x̂ = a·x + (1 − a)·G(x, c′) (Gulrajani et al. 2017).

        With grad mode on, the graph is kept (create_graph) so the penalty trains D, and — for Eq. 8 on g_comp's fakes
        — flows back into g_comp; under ``no_grad`` (l_O of Eq. 8) only the value is computed.
        """
        if "gp_alpha" not in batch:
            batch["gp_alpha"] = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        alpha = batch["gp_alpha"]
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            x_hat = alpha * real + (1.0 - alpha) * fake
            if not x_hat.requires_grad:
                x_hat.requires_grad_(True)
            src, _ = d(x_hat)
            (grad,) = torch.autograd.grad(src.sum(), x_hat, create_graph=keep_graph)
        return (grad.flatten(1).norm(dim=1) - 1.0) ** 2

    def discriminator_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module, *, fake_only: bool = False
    ) -> dict[str, torch.Tensor]:
        src_fake, _ = d(g_out)
        terms = {"fake": src_fake.mean(1), "gp": self.gradient_penalty(d, batch["real"], g_out, batch)}
        if not fake_only:
            src_real, cls_real = d(batch["real"])
            terms["real"] = -src_real.mean(1)
            terms["cls"] = F.cross_entropy(cls_real, self._original(batch), reduction="none")  # Eq. 2
        return terms

    def fake_terms(
        self, g_out: torch.Tensor, batch: Batch, d: nn.Module
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        src, cls = d(g_out)  # one D forward serves Eq. 7 ("gen", "cls") and Eq. 8 ("fake")
        d_terms = {"fake": src.mean(1), "gp": self.gradient_penalty(d, batch["real"], g_out, batch)}
        return self._g_terms(src, cls, g_out, batch), d_terms


@FAMILIES.register("stargan")
class StarGANFamily(Family):
    """StarGAN G and D at ``data.image_size``; the domains are the labels ``data.classes`` (default: 0..9)."""

    name = "stargan"

    def build(self, model: ModelCfg, data: DataCfg) -> tuple[nn.Module, nn.Module]:
        # DECISION: without data.classes every label of a 10-class dataset (all built-in ones) is a domain; the
        # teacher config (configs/stargan_teacher.toml) sets the footwear classes DEFAULT_DOMAINS.
        domains = [int(c) for c in data.classes] if data.classes is not None else list(range(10))
        if data.classes is None:
            log.info("stargan: data.classes not set; domains = labels 0..9")
        g = create_model(
            "stargan_generator",
            **{
                "channels": data.channels,
                "num_domains": len(domains),
                "ngf": model.ngf,
                "domain_labels": domains,
                "image_size": data.image_size,
                **model.g_kwargs,
            },
        )
        d = create_model(
            "stargan_discriminator",
            **{
                "channels": data.channels,
                "num_domains": len(domains),
                "ndf": model.ndf,
                "image_size": data.image_size,
                **model.d_kwargs,
            },
        )
        return g, d

    def make_loss(self, g: nn.Module, d: nn.Module | None) -> GanLoss:
        kwargs = g.arch_spec["kwargs"]
        labels = kwargs.get("domain_labels") or list(range(int(kwargs.get("num_domains", 3))))
        channels, size = int(kwargs.get("channels", 1)), int(kwargs.get("image_size", 32))
        return StarGANLoss(labels, (channels, size, size), generator=g)
