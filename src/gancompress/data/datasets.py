"""Image datasets as plain tensors: a registry of loaders plus common post-processing.

Every loader returns an :class:`ImageDataset` holding the whole split in memory as ``(N, C, H, W)`` float32 in
``[-1, 1]`` (the datasets this project uses are small). :func:`load_dataset` then applies the ``DataCfg`` options
(classes, limit, size, channels) the same way for every dataset.

The IDX (MNIST-format) file parser behind ``fashion_mnist`` lives in :mod:`gancompress.data.idx_format`;
:func:`read_idx` is re-exported here, so ``from gancompress.data.datasets import read_idx`` keeps working.

Example:
    >>> from gancompress.config import DataCfg
    >>> ds = load_dataset(DataCfg(name="digits", image_size=16), "test")
    >>> ds.images.shape[1:], ds.num_classes
    (torch.Size([1, 16, 16]), 10)
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gancompress.config import DataCfg
from gancompress.data.idx_format import read_idx
from gancompress.errors import UserError
from gancompress.registry import Registry

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: Datasets whose labels name groups of correlated images (photo_tiles: the photo overlapping tiles are cut from):
#: their validation split holds out whole groups, so no validation tile overlaps a training tile.
GROUPED_LABELS = {"photo_tiles"}
DATASETS: Registry = Registry("dataset")

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """One split of a dataset, fully in memory.

    Attributes:
        images: ``(N, C, H, W)`` float32 in ``[-1, 1]``.
        labels: ``(N,)`` int64 class indices, or ``None`` for unlabeled data.
        name: registered dataset name (e.g. ``"digits"``).
        split: ``"train"`` or ``"test"``.
        num_classes: number of classes of the original dataset (0 if unlabeled).
        class_names: one name per class index.
        extras: per-image tensors aligned with ``images`` (first dimension ``N``) that every batch carries under the
            same key, e.g. ``"source"``: the edge map a pix2pix generator translates (data/paired.py).
        classifier_data: labelled images the evaluator's domain classifier (FID features, class metrics) is trained
            on instead of this split, or ``None`` (this split). Unpaired translation (data/unpaired.py) holds one
            class per split, too few to train a feature extractor on, so it points at the whole base dataset.

    Example:
        >>> ds = ImageDataset(torch.zeros(4, 1, 8, 8), torch.arange(4), "toy", "train", 4, ("a", "b", "c", "d"))
        >>> len(ds.subset([0, 2])), ds.subset([0, 2]).labels.tolist()
        (2, [0, 2])
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    name: str
    split: str
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    extras: Mapping[str, torch.Tensor] = field(default_factory=dict)
    classifier_data: ImageDataset | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise UserError(f"dataset {self.name!r}: images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        if self.labels is not None and self.labels.shape != (self.images.shape[0],):
            raise UserError(
                f"dataset {self.name!r}: labels shape {tuple(self.labels.shape)} does not match "
                f"{self.images.shape[0]} images"
            )
        for key, value in self.extras.items():
            if value.shape[:1] != self.images.shape[:1]:
                raise UserError(
                    f"dataset {self.name!r}: extra {key!r} has {value.shape[0]} rows for {self.images.shape[0]} images"
                )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @functools.cached_property
    def fingerprint(self) -> str:
        """Short sha256 (16 hex chars) over name, split, shape and image bytes; the key for cached metric statistics."""
        h = hashlib.sha256()
        h.update(f"{self.name}|{self.split}|{tuple(self.images.shape)}|".encode())
        h.update(self.images.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def subset(self, indices: Sequence[int] | torch.Tensor | np.ndarray) -> ImageDataset:
        """Return a new dataset with only ``indices`` (in the given order); metadata is kept."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long).reshape(-1)
        labels = None if self.labels is None else self.labels[idx]
        extras = {k: v[idx] for k, v in self.extras.items()}
        return replace(self, images=self.images[idx], labels=labels, extras=extras)


def check_split(split: str) -> None:
    """Raise :class:`UserError` unless ``split`` is ``"train"``, ``"val"`` or ``"test"``."""
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; valid values: {', '.join(SPLITS)}")


def validation_indices(ds: ImageDataset, fraction: float, *, grouped: bool = False, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``ds`` (a training split) held out as the validation split.

    ``fraction`` of every class (seeded permutation per class; unlabelled data: of the whole split), at least one
    image per class; ``grouped``: the labels name groups of correlated images, and whole groups are held out instead
    (about ``fraction`` of them, at least one, never all).

    Example:
        >>> from gancompress.data.fake import load_fake
        >>> ds = load_fake(DataCfg(name="fake", image_size=8), "train")
        >>> len(validation_indices(ds, 0.1))  # 10 classes of 51–52 images: round(0.1 × 51) = 5 each
        50
    """
    rng = np.random.default_rng(seed)
    labels = ds.labels.numpy() if ds.labels is not None else np.zeros(len(ds), dtype=np.int64)
    classes = np.unique(labels)
    if grouped:
        k = min(len(classes) - 1, max(1, round(fraction * len(classes))))
        if k < 1:
            raise UserError(f"dataset {ds.name!r} has one image group: no validation split can be held out")
        held = rng.permutation(classes)[:k]
        return np.flatnonzero(np.isin(labels, held))
    chosen = []
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        chosen.append(idx[: max(1, round(fraction * len(idx)))])
    return np.sort(np.concatenate(chosen))


def _carve(ds: ImageDataset, cfg: DataCfg, split: str) -> ImageDataset:
    """The ``train`` or ``val`` part of a native training split (``cfg.val_fraction`` held out as ``val``)."""
    val = validation_indices(ds, cfg.val_fraction, grouped=cfg.name in GROUPED_LABELS)
    keep = val if split == "val" else np.setdiff1d(np.arange(len(ds)), val)
    return replace(ds.subset(keep), split=split)


def load_dataset(cfg: DataCfg, split: str = "train") -> ImageDataset:
    """Load ``cfg.name`` and apply the common post-processing of ``cfg``.

    Steps, in order: with ``cfg.val_fraction`` > 0, hold out that share of the training split as ``val``
    (:func:`validation_indices`; ``train`` is the rest), keep only ``cfg.classes`` (original label values and
    ``num_classes`` are kept), keep ``cfg.limit``
    images (a seeded random sample, seed 0, in original order; applies to every split), resize to
    ``cfg.image_size`` (bilinear, antialiased), convert to ``cfg.channels`` (1→3 repeat, 3→1 mean), clamp to [-1, 1].

    Args:
        cfg: which dataset and how to shape it.
        split: ``"train"``, ``"val"`` (needs ``cfg.val_fraction`` > 0) or ``"test"``.

    Returns:
        The processed split.

    Raises:
        UserError: unknown dataset/split, bad options, missing or corrupt files.

    Example:
        >>> ds = load_dataset(DataCfg(name="digits", classes=(3, 5), limit=20, channels=3))
        >>> len(ds), ds.images.shape[1], set(ds.labels.tolist()) <= {3, 5}
        (20, 3, True)
    """
    check_split(split)
    if cfg.channels not in (1, 3):
        raise UserError(f"channels must be 1 or 3, got {cfg.channels}")
    if cfg.image_size < 1:
        raise UserError(f"image_size must be positive, got {cfg.image_size}")
    if cfg.limit is not None and cfg.limit < 1:
        raise UserError(f"limit must be a positive number of images or None, got {cfg.limit}")
    if split == "val" and not cfg.val_fraction:
        raise UserError(
            f"dataset {cfg.name!r} has no validation split: set data.val_fraction (e.g. --set data.val_fraction=0.1) "
            "to hold out part of the training split"
        )
    loader = DATASETS.get(cfg.name)
    if getattr(loader, "derived", False):  # built from another dataset's split, which carves it (paired.py …)
        ds = loader(cfg, split)
    else:
        ds = loader(cfg, "train" if split == "val" else split)
        if split != "test" and cfg.val_fraction:
            ds = _carve(ds, cfg, split)
    images, labels, extras = ds.images, ds.labels, dict(ds.extras)

    if cfg.classes is not None:
        if labels is None:
            raise UserError(f"dataset {cfg.name!r} is unlabeled, so 'classes' cannot be used")
        bad = [c for c in cfg.classes if not 0 <= int(c) < ds.num_classes]
        if bad:
            raise UserError(f"classes {bad} not in dataset {cfg.name!r}; valid labels are 0..{ds.num_classes - 1}")
        keep = torch.isin(labels, torch.as_tensor([int(c) for c in cfg.classes], dtype=labels.dtype))
        images, labels = images[keep], labels[keep]
        extras = {k: v[keep] for k, v in extras.items()}
        if len(images) == 0:
            raise UserError(f"no {split} images of classes {list(cfg.classes)} in dataset {cfg.name!r}")

    if cfg.limit is not None and cfg.limit < len(images):
        perm = np.random.default_rng(0).permutation(len(images))
        keep_idx = torch.as_tensor(np.sort(perm[: cfg.limit]))
        images = images[keep_idx]
        labels = None if labels is None else labels[keep_idx]
        extras = {k: v[keep_idx] for k, v in extras.items()}

    if tuple(images.shape[-2:]) != (cfg.image_size, cfg.image_size):
        if extras:  # paired extras are made at the final size by their loader; resizing only one side breaks pairs
            raise UserError(
                f"dataset {cfg.name!r} returned {tuple(images.shape[-2:])} images for image_size {cfg.image_size}"
            )
        images = F.interpolate(
            images, size=(cfg.image_size, cfg.image_size), mode="bilinear", antialias=True, align_corners=False
        )
    if images.shape[1] != cfg.channels:
        if images.shape[1] == 1:
            images = images.repeat(1, cfg.channels, 1, 1)
        elif images.shape[1] == 3 and cfg.channels == 1:
            images = images.mean(dim=1, keepdim=True)
        else:
            raise UserError(f"cannot convert {images.shape[1]}-channel images to {cfg.channels} channels")
    images = images.to(torch.float32).clamp(-1.0, 1.0).contiguous()

    out = replace(ds, images=images, labels=labels, extras=extras, name=cfg.name, split=split)
    logger.info("loaded %s/%s: %d images of shape %s", cfg.name, split, len(out), tuple(images.shape[1:]))
    return out


def seeded_split(n: int, split: str, train_fraction: float) -> np.ndarray:
    """Indices (sorted) of ``split`` in a seed-0 permutation of ``n`` items."""
    perm = np.random.default_rng(0).permutation(n)
    n_train = round(train_fraction * n)
    return np.sort(perm[:n_train] if split == "train" else perm[n_train:])


# ---------------------------------------------------------------- digits (scikit-learn, 8x8, 1797 images)


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)


@DATASETS.register("digits")
def load_digits_dataset(cfg: DataCfg, split: str) -> ImageDataset:
    """scikit-learn's 8x8 digits; a fixed stratified 80/20 train/test split (seed 0)."""
    check_split(split)
    images, labels = _digits_arrays()
    rng = np.random.default_rng(0)
    chosen = []
    for c in range(10):  # DECISION: stratify per class so both splits hold every digit in proportion
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_train = round(0.8 * len(idx))
        chosen.append(idx[:n_train] if split == "train" else idx[n_train:])
    sel = np.sort(np.concatenate(chosen))
    x = torch.from_numpy(images[sel] / 8.0 - 1.0).unsqueeze(1)  # 0..16 -> [-1, 1]
    y = torch.from_numpy(labels[sel])
    return ImageDataset(x.float(), y, "digits", split, 10, tuple(str(i) for i in range(10)))


# ---------------------------------------------------------------- fashion_mnist (IDX files, parsed by idx_format.py)

_FASHION_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def _find_idx(directory: Path, base: str) -> Path | None:
    # accept gzip or plain files, and the "train-images.idx3-ubyte" spelling of some MNIST mirrors
    dotted = base.replace("-idx", ".idx")
    for name in (base + ".gz", base, dotted + ".gz", dotted):
        if (directory / name).is_file():
            return directory / name
    return None


def fashion_mnist_available(data_dir: str | Path | None = None) -> bool:
    """Whether all four Fashion-MNIST IDX files exist in ``data_dir`` (default: the Debian package's directory)."""
    directory = Path(data_dir or FASHION_MNIST_DIR)
    return all(_find_idx(directory, base) is not None for base in _FASHION_FILES.values())


@DATASETS.register("fashion_mnist")
def load_fashion_mnist(cfg: DataCfg, split: str) -> ImageDataset:
    """Fashion-MNIST (28x28 grayscale, 60k train / 10k test) or any MNIST-format IDX directory via ``data_dir``."""
    check_split(split)
    directory = Path(cfg.data_dir or FASHION_MNIST_DIR)
    paths = {kind: _find_idx(directory, _FASHION_FILES[(split, kind)]) for kind in ("images", "labels")}
    if not fashion_mnist_available(directory):
        expected = ", ".join(f"{b}[.gz]" for b in _FASHION_FILES.values())
        state = "does not exist" if not directory.is_dir() else "lacks some files"
        raise UserError(
            f"Fashion-MNIST not found: directory {directory} {state}; expected {expected}. "
            "Install it with `apt-get install dataset-fashion-mnist`, or pass --data-dir pointing to any "
            "directory with MNIST-format IDX files (e.g. your own MNIST download)."
        )
    images = read_idx(paths["images"])
    labels = read_idx(paths["labels"])
    if images.ndim != 3 or images.dtype != np.uint8:
        raise UserError(f"corrupt IDX file {paths['images']}: expected uint8 (N, H, W) images, got {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise UserError(f"corrupt IDX file {paths['labels']}: expected uint8 (N,) labels, got {labels.shape}")
    if len(images) != len(labels):
        raise UserError(f"corrupt IDX files in {directory}: {len(images)} images but {len(labels)} labels ({split})")
    if len(labels) and int(labels.max()) >= 10:
        raise UserError(f"corrupt IDX file {paths['labels']}: label {int(labels.max())} outside 0..9")
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1).div_(127.5).sub_(1.0)  # 0..255 -> [-1, 1]
    y = torch.from_numpy(labels.astype(np.int64))
    return ImageDataset(x, y, "fashion_mnist", split, 10, FASHION_MNIST_CLASSES)
