"""Image-quality metrics: FID/KID on a domain feature extractor, teacher fidelity, class coverage.

Example:
    >>> from gancompress.metrics import get_domain_extractor, compute_image_metrics  # doctest: +SKIP
    >>> ext = get_domain_extractor(train.images, train.labels, 10, fingerprint=train.fingerprint)  # doctest: +SKIP
    >>> compute_image_metrics(fake, test.images, ext, metrics=("fid", "kid", "class_coverage"))  # doctest: +SKIP
    {'fid': 3.2, 'kid': 0.004, 'kid_std': 0.001, 'class_coverage': 1.0}
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from gancompress.errors import UserError
from gancompress.files import default_cache_dir
from gancompress.metrics.diversity import diversity_ratio, intra_class_diversity, mean_pairwise_distance
from gancompress.metrics.features import (
    ARCH_VERSION,
    EXTRACTORS,
    DomainExtractor,
    FeatureExtractor,
    get_domain_extractor,
    train_domain_classifier,
)
from gancompress.metrics.fid import FID, feature_stats, fid_from_features, frechet_distance
from gancompress.metrics.fidelity import class_coverage, class_histogram, class_kl, fidelity, psnr
from gancompress.metrics.inception import (
    InceptionExtractor,
    get_inception_extractor,
    inception_available,
    inception_path,
)
from gancompress.metrics.kid import KID, kid_from_features, mmd2_unbiased
from gancompress.metrics.prd import (
    PRDC,
    coverage,
    density,
    density_coverage,
    knn_radii,
    prdc,
    precision,
    precision_recall,
    recall,
)
from gancompress.metrics.psnr_ssim import ssim, ssim_per_image
from gancompress.metrics.real_cache import cached_real, real_key, real_stats

logger = logging.getLogger(__name__)

#: Direction of every scalar this package reports (for reports and "better than teacher" checks).
HIGHER_IS_BETTER: dict[str, bool] = {
    "fid": False,
    "kid": False,
    "kid_std": False,
    "psnr": True,
    "class_coverage": True,
    "class_kl": False,
    "l1": False,
    "mse": False,
    "precision": True,
    "recall": True,
    "density": True,  # ≈ 1 for matching distributions; above 1 means samples crowd the densest real regions
    "coverage": True,
    "ssim": True,
    "diversity": True,
    "diversity_ratio": True,  # ≈ 1 healthy, ≪ 1 collapse; above 1 is not better (noise is diverse)
    # paired / conditional tasks (evaluate.py): outputs vs ground truth, and whether they show the target class
    "target_psnr": True,
    "target_ssim": True,
    "target_l1": False,
    "target_mse": False,
    "target_accuracy": True,
}

#: The names :func:`compute_image_metrics` understands (fidelity/psnr need paired outputs: use ``fidelity``).
IMAGE_METRICS = ("fid", "kid", "class_coverage", "class_kl")


def compute_image_metrics(
    fake: Tensor,
    real: Tensor,
    extractor: FeatureExtractor,
    *,
    metrics: Sequence[str] = ("fid", "kid"),
    real_key: str | None = None,
    kid_subsets: int = 50,
    kid_subset_size: int = 1000,
    cache_dir: str | Path | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Distribution metrics of generated images against real images, in one call.

    Args:
        fake: (N_f, C, H, W) generated images in [-1, 1].
        real: (N_r, C, H, W) real images (read only on a cache miss when ``real_key`` is given).
        extractor: feature extractor; class metrics need one with ``extract_logits`` (the domain CNN).
        metrics: any of ``"fid"``, ``"kid"``, ``"class_coverage"``, ``"class_kl"``.
        real_key: cache key for real statistics (``features.real_key(fingerprint, n, extractor)``); None = no cache.
        kid_subsets: KID subsets.
        kid_subset_size: KID subset size (clipped to the sample counts).
        cache_dir: real-statistics cache directory (default ``$GANCOMPRESS_CACHE`` or ``~/.cache/gancompress``).
        seed: KID subset seed.

    Returns:
        Floats keyed by metric (``"kid"`` also adds ``"kid_std"``); directions in :data:`HIGHER_IS_BETTER`.

    Example:
        >>> compute_image_metrics(fake, real, ext, metrics=("fid", "class_coverage"))  # doctest: +SKIP
        {'fid': 3.21, 'class_coverage': 1.0}
    """
    unknown = [m for m in metrics if m not in IMAGE_METRICS]
    if unknown:
        raise UserError(
            f"unknown image metric(s) {unknown}; valid values: {', '.join(IMAGE_METRICS)} "
            "(psnr/l1 compare paired outputs: use gancompress.metrics.fidelity)"
        )
    want_class = "class_coverage" in metrics or "class_kl" in metrics
    items: list[str] = []
    if "fid" in metrics:
        items += ["mu", "sigma"]
    if "kid" in metrics:
        items.append("features")
    if "class_kl" in metrics:
        items.append("class_hist")
    real_data = cached_real(extractor, real, real_key, tuple(items), cache_dir) if items else {}

    out: dict[str, float] = {}
    if "fid" in metrics or "kid" in metrics:
        fake_feats = extractor.extract(fake)
        if "fid" in metrics:
            mu_f, sigma_f = feature_stats(fake_feats)
            out["fid"] = frechet_distance(real_data["mu"], real_data["sigma"], mu_f, sigma_f)
        if "kid" in metrics:
            out["kid"], out["kid_std"] = kid_from_features(
                real_data["features"], fake_feats, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
            )
    if want_class:
        extract_logits = getattr(extractor, "extract_logits", None)
        if extract_logits is None:
            raise UserError(f"extractor {extractor.name!r} has no classifier; class metrics need the domain extractor")
        num_classes = int(extractor.num_classes)  # type: ignore[attr-defined]
        fake_pred = extract_logits(fake).argmax(dim=1)
        if "class_coverage" in metrics:
            out["class_coverage"] = class_coverage(fake_pred, num_classes)
        if "class_kl" in metrics:
            out["class_kl"] = class_kl(class_histogram(fake_pred, num_classes), real_data["class_hist"])
    logger.debug("image metrics: %s", out)
    return out


__all__ = [
    "ARCH_VERSION",
    "EXTRACTORS",
    "FID",
    "HIGHER_IS_BETTER",
    "IMAGE_METRICS",
    "KID",
    "PRDC",
    "DomainExtractor",
    "FeatureExtractor",
    "InceptionExtractor",
    "cached_real",
    "class_coverage",
    "class_histogram",
    "class_kl",
    "compute_image_metrics",
    "coverage",
    "default_cache_dir",
    "density",
    "density_coverage",
    "diversity_ratio",
    "feature_stats",
    "fid_from_features",
    "fidelity",
    "frechet_distance",
    "get_domain_extractor",
    "get_inception_extractor",
    "inception_available",
    "inception_path",
    "intra_class_diversity",
    "kid_from_features",
    "knn_radii",
    "mean_pairwise_distance",
    "mmd2_unbiased",
    "prdc",
    "precision",
    "precision_recall",
    "psnr",
    "real_key",
    "real_stats",
    "recall",
    "ssim",
    "ssim_per_image",
    "train_domain_classifier",
]
