"""Feature extractors for FID/KID: the *domain* classifier (a small CNN trained on the dataset itself).

Inception features are meaningless on 8×8 digits or 28×28 grey clothes, so every FID/KID we report on the small
domains uses a classifier trained on that domain's own training split (its 128-d penultimate layer), and says so
(``extractor.name == "domain"``). The extractor is identified by ``weight_hash`` so cached real-data statistics can
never be reused with a different network.

This module holds the extractor protocol and registry and the on-disk caches (trained extractors, real-data
statistics). The network itself and its training recipe (:class:`DomainExtractor`, :func:`train_domain_classifier`,
:func:`auto_epochs` and their constants) live in :mod:`gancompress.metrics.domain_extractor` and are re-exported here.

Example:
    >>> ext = get_domain_extractor(images, labels, 10, fingerprint=ds.fingerprint)  # doctest: +SKIP
    >>> feats = ext.extract(images)  # (N, 128) float64  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from gancompress.files import atomic_save_tensors, atomic_write_bytes, default_cache_dir
from gancompress.metrics.domain_extractor import (
    MAX_EPOCHS,  # noqa: F401  (re-exported: moved to domain_extractor.py)
    MAX_VISITS,  # noqa: F401  (re-exported: moved to domain_extractor.py)
    SHIFT_PX,  # noqa: F401  (re-exported: moved to domain_extractor.py)
    DomainExtractor,
    auto_epochs,  # noqa: F401  (re-exported: moved to domain_extractor.py)
    train_domain_classifier,
)
from gancompress.registry import Registry

logger = logging.getLogger(__name__)

#: Bump when the architecture or the training recipe (domain_extractor.py) changes: it is part of the cache file name.
#: v2: training pins one CPU thread (v1 weights depended on the thread count of the process that trained them).
ARCH_VERSION = "v2"

EXTRACTORS: Registry[Any] = Registry("feature extractor")


@runtime_checkable
class FeatureExtractor(Protocol):
    """What FID/KID need from an extractor (the domain CNN, later Inception, or a test stub)."""

    name: str
    feat_dim: int

    @property
    def weight_hash(self) -> str: ...

    def extract(self, images: Tensor, batch_size: int = 500) -> Tensor: ...


def _cache_paths(cache_dir: Path, fingerprint: str, seed: int) -> tuple[Path, Path]:
    stem = f"domain_{fingerprint}_{ARCH_VERSION}_{seed}"
    return cache_dir / f"{stem}.safetensors", cache_dir / f"{stem}.json"


def save_domain_extractor(net: DomainExtractor, weights_path: Path, meta_path: Path) -> None:
    """Write weights (safetensors) then metadata (JSON), each atomically; the JSON marks the pair complete."""
    atomic_save_tensors(weights_path, dict(net.state_dict()))
    meta = {
        "arch_version": ARCH_VERSION,
        "accuracy": net.accuracy,
        "num_classes": net.num_classes,
        "in_channels": net.in_channels,
        "image_size": list(net.image_size) if net.image_size else None,
        "feat_dim": net.feat_dim,
        "weight_hash": net.weight_hash,
    }
    atomic_write_bytes(meta_path, json.dumps(meta, indent=2).encode())


def load_domain_extractor(weights_path: Path, meta_path: Path, device: str | torch.device = "cpu") -> DomainExtractor:
    """Load a cached extractor (safetensors only, never pickle). Raises ``ValueError`` on any inconsistency."""
    meta = json.loads(meta_path.read_text())
    net = DomainExtractor(int(meta["in_channels"]), int(meta["num_classes"]))
    net.load_state_dict(load_file(str(weights_path)), strict=True)
    net.accuracy = float(meta["accuracy"])
    net.image_size = tuple(meta["image_size"]) if meta.get("image_size") else None
    if meta.get("weight_hash") and meta["weight_hash"] != net.weight_hash:
        raise ValueError(f"weight hash {net.weight_hash} does not match the recorded {meta['weight_hash']}")
    return net.to(device).eval()


@EXTRACTORS.register("domain")
def get_domain_extractor(
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    fingerprint: str,
    test_images: Tensor | None = None,
    test_labels: Tensor | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> DomainExtractor:
    """The domain extractor for a dataset: from ``<cache_dir>/domain_<fingerprint>_<arch>_<seed>.*`` or trained.

    Args:
        images: training images (N, C, H, W) in [-1, 1] (used only on a cache miss).
        labels: (N,) int64 labels.
        num_classes: number of classes.
        fingerprint: the training set's fingerprint (``ImageDataset.fingerprint``); the cache key.
        test_images: optional held-out images for the recorded accuracy.
        test_labels: their labels.
        seed: training seed (part of the cache key).
        cache_dir: defaults to :func:`gancompress.files.default_cache_dir`.
        device: device for training and for the returned module.

    Returns:
        A :class:`DomainExtractor` in eval mode.

    Example:
        >>> ext = get_domain_extractor(ds.images, ds.labels, 10, fingerprint=ds.fingerprint)  # doctest: +SKIP
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    weights_path, meta_path = _cache_paths(cache, fingerprint, seed)
    if weights_path.exists() and meta_path.exists():
        try:
            net = load_domain_extractor(weights_path, meta_path, device)
            if net.num_classes == num_classes and net.in_channels == images.shape[1]:
                logger.info("loaded domain extractor %s (accuracy %.4f)", weights_path, net.accuracy)
                return net
            logger.warning("cached domain extractor %s does not fit this data; retraining", weights_path)
        except (OSError, ValueError, KeyError, RuntimeError, SafetensorError, json.JSONDecodeError) as err:
            logger.warning("ignoring unreadable cached domain extractor %s (%s); retraining", weights_path, err)
    # first use on this data: say so before the wait (about a minute on 2 CPU cores), and where it will be kept
    logger.info(
        "first use of this dataset: training the domain feature extractor for FID / class metrics on %d images "
        "(a minute or two on a CPU); it is cached in %s for every later run",
        len(images), weights_path.parent,
    )  # fmt: skip
    net = train_domain_classifier(
        images, labels, num_classes, test_images=test_images, test_labels=test_labels, seed=seed, device=device
    )
    try:
        save_domain_extractor(net, weights_path, meta_path)
    except OSError as err:  # a read-only cache must not break evaluation
        logger.warning("could not cache the domain extractor in %s: %s", cache, err)
    warn_if_near_chance(net.accuracy, len(torch.unique(labels)), len(images))  # over classes training saw
    return net


#: a held-out accuracy below this multiple of chance (1 / classes) makes the domain features meaningless
NEAR_CHANCE = 1.5


def warn_if_near_chance(accuracy: float, num_classes: int, num_images: int) -> bool:
    """Warn (and return True) when the domain classifier barely beats guessing, naming the likely causes.

    Example:
        >>> warn_if_near_chance(0.12, 10, 500)
        True
    """
    chance = 1.0 / max(num_classes, 1)
    if math.isnan(accuracy) or accuracy >= NEAR_CHANCE * chance:  # NaN: no held-out labels to judge by
        return False
    logger.warning(
        "the domain feature extractor is near chance: held-out accuracy %.2f for %d classes (chance %.2f), trained "
        "on %d images (%.0f per class). Its features cannot tell images apart, so FID / class metrics on them say "
        "little. Likely causes: labels that do not describe the images (an image_folder whose sub-directories are "
        "not classes), too few images per class, or images too small. Use --extractor inception, or more data.",
        accuracy, num_classes, chance, num_images, num_images / max(num_classes, 1),
    )  # fmt: skip
    return True


class PrecomputedFeatures:
    """An identity "extractor": lets the metric classes accumulate features computed once elsewhere."""

    name = "precomputed"
    weight_hash = "identity"

    def __init__(self, dim: int) -> None:
        self.feat_dim = dim

    def extract(self, features: torch.Tensor, batch_size: int = 0) -> torch.Tensor:
        return features.double()
