"""Recovery ingredients: what keeps a generator's quality while its channels are removed (docs/pruning.md "Recovery
after pruning"). Each is an option, off by default.

- :mod:`~gancompress.methods.recovery.batchnorm` — BatchNorm statistics re-estimated after a mask update
  (``method.bn_reestimate``, every method).
- :mod:`~gancompress.methods.recovery.adapters` — intermediate-feature distillation from G_O through learnable 1×1
  adapters (``method.feature_distill``, ``self_supervised``).
- :mod:`~gancompress.methods.recovery.d_features` — distance between D's penultimate features of G_C(x) and G_O(x)
  (``method.d_feature``, ``self_supervised``).

The fourth ingredient, an EMA of G_C's weights (``train.ema``), belongs to the loop: ``training/ema.py``.
"""

from __future__ import annotations

from gancompress.methods.recovery.adapters import FeatureAdapters, capture_outputs, distill_points
from gancompress.methods.recovery.batchnorm import has_batchnorm, reestimate_batchnorm
from gancompress.methods.recovery.d_features import (
    buffers_untouched,
    capture_last_layer_input,
    penultimate_distance,
)

__all__ = [
    "FeatureAdapters",
    "buffers_untouched",
    "capture_last_layer_input",
    "capture_outputs",
    "distill_points",
    "has_batchnorm",
    "penultimate_distance",
    "reestimate_batchnorm",
]
