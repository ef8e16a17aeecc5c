"""The *domain* feature extractor: a small CNN classifier trained on the dataset itself, and its training recipe.

Inception features are meaningless on 8×8 digits or 28×28 grey clothes, so FID/KID on the small domains use the
128-d penultimate layer of a classifier trained on that domain's own training split (:class:`DomainExtractor`,
trained deterministically by :func:`train_domain_classifier`).

The network and how it is trained form one concept and live here, apart from ``features.py``, which holds what is
shared by every extractor (the :class:`~gancompress.metrics.features.FeatureExtractor` protocol, the ``EXTRACTORS``
registry) and the on-disk caches (:func:`~gancompress.metrics.features.get_domain_extractor` loads a cached network
or trains one with this module). Every public name here is re-exported by ``gancompress.metrics.features``, so
existing imports keep working. Changing the architecture or the training recipe here means bumping
``features.ARCH_VERSION``, which is part of the cache file name.

Example:
    >>> net = train_domain_classifier(images, labels, 10, seed=0)  # doctest: +SKIP
    >>> feats = net.extract(images)  # (N, 128) float64  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gancompress.errors import UserError
from gancompress.export.threads import torch_threads

logger = logging.getLogger(__name__)

#: Training budget in sample visits (≈ 35 s for 32×32 RGB on 2 CPU cores); small sets get more epochs, capped.
MAX_VISITS = 60_000
MAX_EPOCHS = 30
SHIFT_PX = 2


def _block(c_in: int, c_out: int, pool: bool) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    # DECISION: pool before BN/ReLU. Max-pool commutes with ReLU, and the memory-bound BN/ReLU then run on 4× fewer
    # activations: ~20 % faster training on CPU, which is what keeps 60k 32×32 images under a minute.
    head: list[nn.Module] = [conv, nn.MaxPool2d(2)] if pool else [conv]
    return [*head, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class DomainExtractor(nn.Module):
    """Small CNN classifier; its penultimate (globally pooled) layer is the FID/KID feature space.

    Three conv blocks (32-64-128 3×3 convs with BN and ReLU; 2× max-pool in the first two) → adaptive average
    pool → 128-d feature → linear classifier. Works for any C×H×W with H, W ≥ 8 in [-1, 1].

    Example:
        >>> net = DomainExtractor(in_channels=1, num_classes=10)
        >>> net(torch.zeros(2, 1, 16, 16)).shape
        torch.Size([2, 128])
    """

    name = "domain"

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.feat_dim = widths[-1]
        self.num_features = widths[-1]  # torchmetrics reads this instead of probing with a 299×299 dummy image
        self.body = nn.Sequential(
            *_block(in_channels, widths[0], pool=True),
            *_block(widths[0], widths[1], pool=True),
            *_block(widths[1], widths[2], pool=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(widths[-1], num_classes)
        self.accuracy: float = float("nan")
        self.image_size: tuple[int, int] | None = None

    def features32(self, x: Tensor) -> Tensor:
        """Penultimate features in float32 (differentiable; used for training)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) images in [-1, 1] → (N, feat_dim) float64 features."""
        return self.features32(x.float()).double()

    def classify(self, x: Tensor) -> Tensor:
        """(N, C, H, W) images → (N, num_classes) float32 logits."""
        return self.head(self.features32(x.float()))

    @property
    def weight_hash(self) -> str:
        """sha256[:16] over the state_dict (names, dtypes, shapes, bytes) — identifies this exact network."""
        h = hashlib.sha256()
        for key, t in sorted(self.state_dict().items()):
            t = t.detach().cpu().contiguous()
            h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()[:16]

    def _check_input(self, images: Tensor) -> None:
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise UserError(
                f"domain feature extractor expects (N, {self.in_channels}, H, W) images, got {tuple(images.shape)}; "
                "generate images with the same channels as the dataset the extractor was trained on"
            )
        if min(images.shape[-2:]) < 8:
            raise UserError(f"domain feature extractor needs images of at least 8×8, got {tuple(images.shape[-2:])}")
        if self.image_size is not None and tuple(images.shape[-2:]) != self.image_size:
            logger.warning("extracting features at %s from a network trained at %s", images.shape[-2:], self.image_size)

    @torch.no_grad()
    def _batched(self, images: Tensor, batch_size: int, fn: Any) -> Tensor:
        self._check_input(images)
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        try:
            outs = [fn(images[i : i + batch_size].to(device)).cpu() for i in range(0, images.shape[0], batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(outs) if outs else torch.zeros(0, self.feat_dim, dtype=torch.float64)

    def extract(self, images: Tensor, batch_size: int = 500) -> Tensor:
        """Batched, eval-mode, no-grad features: (N, feat_dim) float64 on CPU."""
        return self._batched(images, batch_size, self.forward)

    def extract_logits(self, images: Tensor, batch_size: int = 500) -> Tensor:
        """Batched, eval-mode, no-grad class logits: (N, num_classes) float32 on CPU."""
        return self._batched(images, batch_size, self.classify)


def _random_shift(x: Tensor, gen: torch.Generator, max_shift: int = SHIFT_PX) -> Tensor:
    """Shift each image by an independent integer offset in [-max_shift, max_shift]² (edge-replicated padding)."""
    n, _, h, w = x.shape
    pad = F.pad(x, (max_shift,) * 4, mode="replicate")
    side = 2 * max_shift + 1
    offset = torch.randint(0, side * side, (n,), generator=gen)
    out = torch.empty_like(x)
    # One slice per distinct offset (≤ 25) is ~10× faster than per-pixel advanced indexing.
    for o in offset.unique().tolist():
        idx = (offset == o).nonzero().squeeze(1)
        dy, dx = divmod(o, side)
        out[idx] = pad[idx, :, dy : dy + h, dx : dx + w]
    return out


def auto_epochs(n: int, max_visits: int | None = None, max_epochs: int | None = None) -> int:
    """Epochs so that big sets get 1 epoch and small sets ≤ ``MAX_EPOCHS``, within ``MAX_VISITS`` sample visits.

    Example:
        >>> auto_epochs(60_000), auto_epochs(1437), auto_epochs(10_000)
        (1, 30, 6)
    """
    max_visits = MAX_VISITS if max_visits is None else max_visits
    max_epochs = MAX_EPOCHS if max_epochs is None else max_epochs
    return max(1, min(max_epochs, max_visits // max(n, 1)))


def _accuracy(net: DomainExtractor, images: Tensor, labels: Tensor) -> float:
    pred = net.extract_logits(images).argmax(dim=1)
    return float((pred == labels.cpu()).double().mean())


def train_domain_classifier(
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    test_images: Tensor | None = None,
    test_labels: Tensor | None = None,
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int = 128,
    lr: float = 3e-3,
    device: str | torch.device = "cpu",
) -> DomainExtractor:
    """Train the domain CNN deterministically (seeded init, shuffling and ±2 px shift augmentation).

    Args:
        images: (N, C, H, W) float images in [-1, 1].
        labels: (N,) int64 class labels in [0, num_classes).
        num_classes: number of classes.
        test_images: optional held-out images for the recorded ``accuracy``, taken over those of classes training
            saw (train accuracy if omitted or none are).
        test_labels: labels for ``test_images``.
        seed: seeds weight init, shuffling and augmentation.
        epochs: ``None`` → :func:`auto_epochs` (1 epoch for 60k images, up to 30 for small sets).
        batch_size: minibatch size.
        lr: peak learning rate of the one-cycle schedule.
        device: training device.

    Returns:
        The trained extractor in eval mode, with ``accuracy`` and ``image_size`` set.

    Example:
        >>> ext = train_domain_classifier(x, y, 10, seed=0)  # doctest: +SKIP
    """
    if images.dim() != 4:
        raise UserError(f"expected (N, C, H, W) images, got shape {tuple(images.shape)}")
    if labels is None or labels.shape != (images.shape[0],):
        raise UserError("the domain feature extractor needs one integer label per training image (a labelled dataset)")
    if images.shape[0] < 2:
        raise UserError("need at least 2 labelled images to train the domain feature extractor")
    labels = labels.long().cpu()
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise UserError(f"labels must lie in [0, {num_classes}), got range [{int(labels.min())}, {int(labels.max())}]")
    images = images.float().cpu()
    epochs = auto_epochs(images.shape[0]) if epochs is None else int(epochs)
    # The evaluator must not depend on which command trained it first: on CPU, oneDNN splits its reductions by thread,
    # so the same seed gave different weights (and FIDs) at 1 and 2 threads (docs/metrics.md "Domain extractor
    # reproducibility"). Training pins one CPU thread (paid once per dataset); the caller's count is restored.
    t0 = time.perf_counter()
    with torch_threads(1 if torch.device(device).type == "cpu" else None):
        net = _train(images, labels, num_classes, seed, epochs, batch_size, lr, device)
    scored, truth, split = images, labels, "train"
    if test_images is not None and test_labels is not None:
        # held-out images of classes training never saw (photo_tiles' held-out photos) cannot be classified right, so
        # they would read as a broken extractor: the accuracy is taken over the held-out images of seen classes only
        test_labels = test_labels.long().cpu()
        seen = torch.isin(test_labels, torch.unique(labels))
        if bool(seen.all()):
            scored, truth, split = test_images, test_labels, "test"
        elif bool(seen.any()):
            scored, truth = test_images[seen], test_labels[seen]
            split = f"test, the {int(seen.sum())} of {len(seen)} images of classes seen in training"
        else:
            split = "train; the held-out images are all of classes unseen in training"
    net.accuracy = _accuracy(net, scored, truth)  # one pass, over the images chosen above
    logger.info(
        "trained domain extractor: %d images, %d epochs, %.1f s, accuracy %.4f (%s), hash %s",
        images.shape[0], epochs, time.perf_counter() - t0, net.accuracy, split, net.weight_hash,
    )  # fmt: skip
    return net


def _train(
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str | torch.device,
) -> DomainExtractor:
    n = images.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = DomainExtractor(images.shape[1], num_classes).to(device)
    net.image_size = (int(images.shape[-2]), int(images.shape[-1]))
    net = net.to(memory_format=torch.channels_last)  # ~1.5–3× faster convs on CPU (oneDNN)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            x = _random_shift(images[idx], gen)
            if x.shape[0] > 1:  # BatchNorm needs > 1 sample; the schedule still advances
                x = x.to(device).contiguous(memory_format=torch.channels_last)
                loss = F.cross_entropy(net.classify(x), labels[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
    return net.to(memory_format=torch.contiguous_format).eval()
