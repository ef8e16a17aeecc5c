"""Real-data statistics cached on disk: features, mean / covariance and class histogram of a held-out split.

Keyed by the split's fingerprint, its size and the exact extractor (name + weight hash), so a cached entry is never
reused for different images or a different network (docs/architecture.md "Metrics").
"""

from __future__ import annotations

import logging
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from gancompress.errors import UserError
from gancompress.files import atomic_save_tensors, default_cache_dir
from gancompress.metrics.features import FeatureExtractor
from gancompress.metrics.fid import feature_stats
from gancompress.metrics.fidelity import class_histogram

logger = logging.getLogger(__name__)


def real_key(fingerprint: str, n: int, extractor: FeatureExtractor) -> str:
    """Cache key for real-data statistics: dataset/split fingerprint, sample count and the exact extractor."""
    return f"{fingerprint}_{n}_{extractor.name}_{extractor.weight_hash}"


def cached_real(
    extractor: FeatureExtractor,
    images: Tensor,
    key: str | None,
    items: tuple[str, ...] = ("mu", "sigma"),
    cache_dir: str | Path | None = None,
) -> dict[str, Tensor]:
    """Real-data quantities, cached in ``<cache_dir>/real_<key>.safetensors`` and filled in lazily.

    Items: ``"features"`` (N, D) float64, ``"mu"``/``"sigma"`` (feature mean / unbiased covariance, float64) and
    ``"class_hist"`` (predicted-class shares; needs ``extractor.extract_logits``). ``key=None`` disables caching.
    """
    path = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"real_{key}.safetensors"
    have: dict[str, Tensor] = {}
    if key is not None and path.exists():
        try:
            have = dict(load_file(str(path)))
        except (OSError, SafetensorError) as err:
            logger.warning("ignoring unreadable real-statistics cache %s (%s)", path, err)
    missing = [it for it in items if it not in have]
    if not missing:
        return {it: have[it] for it in items}
    computed: dict[str, Tensor] = {}
    if any(it in ("features", "mu", "sigma") for it in missing):
        feats = have.get("features")
        feats = extractor.extract(images) if feats is None else feats
        computed["features"] = feats
        if "mu" in missing or "sigma" in missing:
            computed["mu"], computed["sigma"] = feature_stats(feats)
    if "class_hist" in missing:
        extract_logits = getattr(extractor, "extract_logits", None)
        if extract_logits is None:
            raise UserError(f"extractor {extractor.name!r} has no classifier; class metrics need the domain extractor")
        num_classes = int(extractor.num_classes)  # type: ignore[attr-defined]
        computed["class_hist"] = class_histogram(extract_logits(images), num_classes)
    # Store the (N, D) features only when asked for (KID) or already stored; mu/sigma alone are tiny.
    store_features = "features" in items or "features" in have
    have.update(computed)
    if key is not None:
        keep = {k: v for k, v in have.items() if k != "features" or store_features}
        try:
            atomic_save_tensors(path, keep)
        except OSError as err:
            logger.warning("could not cache real statistics in %s: %s", path, err)
    return {it: have[it] for it in items}


def real_stats(
    extractor: FeatureExtractor, images: Tensor, key: str | None, cache_dir: str | Path | None = None
) -> tuple[Tensor, Tensor]:
    """(mu, sigma) of the real images' features, cached as ``<cache_dir>/real_<key>.safetensors``.

    Args:
        extractor: the feature extractor.
        images: real images (only read on a cache miss).
        key: ``features.real_key(fingerprint, n, extractor)``, i.e. ``f"{fingerprint}_{n}_{name}_{weight_hash}"``;
            ``None`` disables caching.
        cache_dir: defaults to ``$GANCOMPRESS_CACHE`` or ``~/.cache/gancompress``.

    Returns:
        float64 mean (D,) and covariance (D, D).

    Example:
        >>> mu, sigma = real_stats(ext, ds.images, real_key(ds.fingerprint, len(ds.images), ext))  # doctest: +SKIP
    """
    got = cached_real(extractor, images, key, ("mu", "sigma"), cache_dir)
    return got["mu"], got["sigma"]
