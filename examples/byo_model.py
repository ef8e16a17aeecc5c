"""The model file for ``gancompress … --model examples/byo_model.py:build`` (bring your own GAN on the CLI).

gancompress imports and runs this file (it is your code, named on the command line) and calls ``build()``, which
returns ``(generator, discriminator, loss)`` — untrained modules plus a ``gancompress.GanLoss``; the weights come
from ``--generator`` / ``--discriminator`` (e.g. the ``teacher_*.safetensors`` that ``examples/byo_gan.py`` writes).
The file's directory is importable while it runs, so it reuses the architecture defined in ``byo_gan.py``.
"""

from __future__ import annotations

from byo_gan import ConvDiscriminator, HingeLoss, UpsampleGenerator
from torch import nn

import gancompress as gc


def build() -> tuple[nn.Module, nn.Module, gc.GanLoss]:
    """Untrained (generator, discriminator, loss) of the ``byo_gan.py`` GAN: 16×16 single-channel images."""
    return UpsampleGenerator(), ConvDiscriminator(), HingeLoss()
