"""Typed, frozen run configuration (nanoGPT-style dataclasses) with dotted ``--set key=value`` overrides.

- :mod:`~gancompress.config.schema` — ``RunCfg`` and its sections (``DataCfg``, ``ModelCfg``, ``PruneCfg``,
  ``MethodCfg``, ``TrainCfg``, ``EvalCfg``), each value checked when built.
- :mod:`~gancompress.config.overrides` — from / to dicts, config files and ``--set`` strings.

Example:
    >>> cfg = RunCfg()
    >>> cfg = override(cfg, ["prune.sparsity=0.75", "train.steps=100"])
    >>> cfg.prune.sparsity, cfg.train.steps
    (0.75, 100)
"""

from gancompress.config.overrides import apply_dict, from_dict, load_config, override, to_dict, with_profile
from gancompress.config.schema import (
    DIRECTIONS,
    METRIC_NAMES,
    PROFILE_NAMES,
    DataCfg,
    EvalCfg,
    MethodCfg,
    ModelCfg,
    PruneCfg,
    RunCfg,
    TrainCfg,
)

__all__ = [
    "DIRECTIONS",
    "METRIC_NAMES",
    "PROFILE_NAMES",
    "DataCfg",
    "EvalCfg",
    "MethodCfg",
    "ModelCfg",
    "PruneCfg",
    "RunCfg",
    "TrainCfg",
    "apply_dict",
    "from_dict",
    "load_config",
    "override",
    "to_dict",
    "with_profile",
]
