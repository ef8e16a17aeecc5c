"""Generator / discriminator networks, one family per file, created by name from ``MODELS`` (:mod:`.build`).

The networks are plain ``nn.Module`` definitions; what a family trains them with (losses, inputs) is
:mod:`gancompress.families`.
"""

from __future__ import annotations

from gancompress.models import cyclegan, dcgan, pix2pix, srgan, stargan  # noqa: F401  (registers the architectures)
from gancompress.models.build import (
    MAX_COUNT_KWARG,
    MAX_INT_KWARG,
    MAX_PARAMS,
    MODELS,
    create_model,
    create_model_from_spec,
)

__all__ = ["MAX_COUNT_KWARG", "MAX_INT_KWARG", "MAX_PARAMS", "MODELS", "create_model", "create_model_from_spec"]
