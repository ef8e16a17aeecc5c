"""gancompress: take a trained GAN, return a smaller, faster generator of the same quality.

Core method: "Self-Supervised GAN Compression" (Yu & Pool, NVIDIA) — prune G_C gradually from G_O while matching
G_O's loss terms through the pretrained, fine-tuned discriminator (Eq. 7–9).

Example:
    >>> import gancompress as gc
    >>> g, d = gc.load_gan("runs/demo/teacher")                                   # doctest: +SKIP
    >>> data = gc.load_dataset(gc.DataCfg(name="digits"), "train")                # doctest: +SKIP
    >>> res = gc.compress(g, d, data, family="dcgan", method="self_supervised",
    ...                   prune=gc.PruneCfg(granularity="element", sparsity=0.5),
    ...                   train=gc.TrainCfg(steps=300))                           # doctest: +SKIP
    >>> from gancompress.evaluate import evaluate                                 # doctest: +SKIP
    >>> scores = evaluate(res.generator, data_test, family="dcgan", train_data=data)  # doctest: +SKIP
    >>> gc.save(res, "runs/comp")                                                 # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from gancompress.config import DataCfg, EvalCfg, MethodCfg, ModelCfg, PruneCfg, RunCfg, TrainCfg
from gancompress.data import ImageDataset, InfiniteLoader, load_dataset
from gancompress.errors import UserError
from gancompress.families import FAMILIES, GanLoss, get_family
from gancompress.methods import METHODS
from gancompress.pipeline import CompressResult, compress, load_gan, prune_oneshot, save, train_teacher
from gancompress.pruning import MaskSet

__all__ = [
    "FAMILIES",
    "METHODS",
    "CompressResult",
    "DataCfg",
    "EvalCfg",
    "GanLoss",
    "ImageDataset",
    "InfiniteLoader",
    "MaskSet",
    "MethodCfg",
    "ModelCfg",
    "PruneCfg",
    "RunCfg",
    "TrainCfg",
    "UserError",
    "__version__",
    "compress",
    "get_family",
    "load_dataset",
    "load_gan",
    "prune_oneshot",
    "save",
    "train_teacher",
]
