"""Unpaired two-domain data for CycleGAN: sneaker ↔ ankle boot on Fashion-MNIST and one more pair (docs/method.md §6).

``<base>_unpaired`` (``fashion_mnist_unpaired``, ``digits_unpaired``, ``fake_unpaired``) takes two classes of
``<base>`` as the domains: ``data.classes = [A, B]`` (default ``[7, 9]``, Fashion-MNIST's sneaker and ankle boot;
e.g. ``[1, 3]`` trouser ↔ dress is another pair). ``data.direction`` picks the translation the split serves:

- ``a2b``: ``images`` / ``labels`` = domain B (the *target*: what D sees as real, what FID compares against),
  ``extras["source"]`` / ``extras["source_label"]`` = domain-A images (what the generator translates);
- ``b2a``: the same with A and B swapped.

DECISION (unpaired batches): every target image gets a source image from a seed-0 permutation of the other domain
(cycled when the source domain is smaller), fixed per split. The pairing is random and carries no correspondence —
no loss term compares a source with "its" target (CycleGAN's terms compare an image only with itself or with a whole
domain) — while the loader's per-epoch shuffle keeps mixing which sources and targets share a batch. Pairing by row
keeps the generic loader, ``draw_batch`` and ``subset`` working unchanged. With Fashion-MNIST's equal class sizes
(6000 train / 1000 test each) every source image is used exactly once per epoch.

The evaluator's domain classifier is trained on the whole ``<base>`` train split (``classifier_data``): a split of
one class cannot train a feature extractor, and the 10-class network is the one the other families are scored with.

Example:
    >>> from gancompress.config import DataCfg
    >>> from gancompress.data import load_dataset
    >>> ds = load_dataset(DataCfg(name="fake_unpaired", image_size=16, classes=(2, 5)), "test")
    >>> set(ds.labels.tolist()), set(ds.extras["source_label"].tolist())
    ({5}, {2})
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import torch

from gancompress.config import DataCfg
from gancompress.data.datasets import DATASETS, ImageDataset, check_split, load_dataset
from gancompress.errors import UserError

UNPAIRED_BASES = ("fashion_mnist", "digits", "fake")
#: DECISION: the paper's horse ↔ zebra stands in as sneaker (7) ↔ ankle boot (9): same category, different shape.
DEFAULT_DOMAINS = (7, 9)


def domain_classes(cfg: DataCfg) -> tuple[int, int]:
    """(class of domain A, class of domain B) from ``cfg.classes`` (default ``DEFAULT_DOMAINS``).

    Raises:
        UserError: not exactly two distinct classes.
    """
    classes = DEFAULT_DOMAINS if cfg.classes is None else tuple(int(c) for c in cfg.classes)
    if len(classes) != 2 or classes[0] == classes[1]:
        raise UserError(
            f"unpaired translation needs exactly two distinct classes as (domain A, domain B), e.g. "
            f"--set data.classes=7,9; got {list(classes)}"
        )
    return classes[0], classes[1]


def load_unpaired_dataset(base: str, cfg: DataCfg, split: str) -> ImageDataset:
    """Target-domain images of ``base`` with independently drawn source-domain images as ``extras["source"]``."""
    check_split(split)
    a, b = domain_classes(cfg)
    full = load_dataset(replace(cfg, name=base, classes=None, limit=None), split)
    if full.labels is None:
        raise UserError(f"dataset {base!r} is unlabeled, so it has no class domains for unpaired translation")
    for c in (a, b):
        if not 0 <= c < full.num_classes:
            raise UserError(f"class {c} not in dataset {base!r}; valid labels are 0..{full.num_classes - 1}")
    src_class, tgt_class = (a, b) if cfg.direction == "a2b" else (b, a)
    tgt = torch.nonzero(full.labels == tgt_class).flatten()
    src = torch.nonzero(full.labels == src_class).flatten()
    if len(tgt) == 0 or len(src) == 0:
        raise UserError(f"no {split} images of class {tgt_class if len(tgt) == 0 else src_class} in {base!r}")
    # seed 0 and the split: the same pairing on every load, different between train and test
    rng = np.random.default_rng([0, {"train": 0, "test": 1, "val": 2}[split]])
    order = torch.as_tensor(np.resize(rng.permutation(len(src)), len(tgt)))
    pick = src[order]
    train_full = full if split == "train" else load_dataset(replace(cfg, name=base, classes=None, limit=None), "train")
    return replace(
        full,
        images=full.images[tgt],
        labels=full.labels[tgt],
        name=f"{base}_unpaired",
        # source_index: which source image a row carries (rows beyond the source domain's size repeat one), so an
        # evaluation can draw each source once (families/cyclegan.py eval_split)
        extras={"source": full.images[pick], "source_label": full.labels[pick], "source_index": pick},
        classifier_data=train_full,
    )


for _base in UNPAIRED_BASES:
    _loader = functools.partial(load_unpaired_dataset, _base)
    _loader.derived = True  # type: ignore[attr-defined]  # the base split carves val (datasets.load_dataset)
    DATASETS.add(f"{_base}_unpaired", _loader)
