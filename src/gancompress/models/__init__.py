"""Generator / discriminator architectures, one family per file, created by name from ``MODELS``.

Every module built by :func:`create_model` carries ``arch_spec`` = ``{"arch": name, "kwargs": {...}}`` so a checkpoint
can be rebuilt from JSON alone (no pickled code).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from gancompress.registry import Registry

MODELS: Registry = Registry("model architecture")


def create_model(arch: str, **kwargs: Any) -> nn.Module:
    """Build a registered architecture and record how (``module.arch_spec``).

    Example:
        >>> g = create_model("dcgan_generator", nz=16, ngf=8, channels=1, image_size=32)
        >>> g.arch_spec["arch"]
        'dcgan_generator'
    """
    module = MODELS.get(arch)(**kwargs)
    module.arch_spec = {"arch": arch, "kwargs": dict(kwargs)}
    return module


from gancompress.models import cyclegan, dcgan, pix2pix, srgan, stargan  # noqa: E402,F401  (registers the built-in architectures)

__all__ = ["MODELS", "create_model"]
