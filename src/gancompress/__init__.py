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
    >>> scores = gc.evaluate(res.generator, data_test, family="dcgan", train_data=data)  # doctest: +SKIP
    >>> gc.save(res, "runs/comp")                                                 # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gancompress.version import __version__

# The public API, imported on first use (PEP 562): `gancompress --version` / `--help` must not pay for torch.
_LAZY = {
    "DataCfg": "gancompress.config", "EvalCfg": "gancompress.config", "MethodCfg": "gancompress.config",
    "ModelCfg": "gancompress.config", "PruneCfg": "gancompress.config", "RunCfg": "gancompress.config",
    "TrainCfg": "gancompress.config", "UserError": "gancompress.errors",
    "ImageDataset": "gancompress.data", "InfiniteLoader": "gancompress.data", "load_dataset": "gancompress.data",
    "FAMILIES": "gancompress.families", "GanLoss": "gancompress.families", "get_family": "gancompress.families",
    "METHODS": "gancompress.methods", "MaskSet": "gancompress.pruning",
    "CompressResult": "gancompress.api", "compress": "gancompress.api", "load_gan": "gancompress.api",
    "prune_oneshot": "gancompress.api", "save": "gancompress.api", "train_teacher": "gancompress.api",
    "evaluate": "gancompress.evaluate",
}  # fmt: skip

if TYPE_CHECKING:
    from gancompress.api import CompressResult, compress, load_gan, prune_oneshot, save, train_teacher
    from gancompress.config import DataCfg, EvalCfg, MethodCfg, ModelCfg, PruneCfg, RunCfg, TrainCfg
    from gancompress.data import ImageDataset, InfiniteLoader, load_dataset
    from gancompress.errors import UserError
    from gancompress.evaluate import evaluate
    from gancompress.families import FAMILIES, GanLoss, get_family
    from gancompress.methods import METHODS
    from gancompress.pruning import MaskSet


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        # gc.evaluate is the module gancompress.evaluate itself, which is callable (evaluate.py): importing a
        # submodule binds its name on the package, so a function bound here would be replaced by the module anyway
        value = module if name == "evaluate" else getattr(module, name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'gancompress' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


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
    "evaluate",
    "get_family",
    "load_dataset",
    "load_gan",
    "prune_oneshot",
    "save",
    "train_teacher",
]
