"""The run configuration: typed, frozen dataclasses (nanoGPT-style), each value checked when it is built.

``RunCfg`` holds one section per concern — ``data``, ``model``, ``prune``, ``method``, ``train``, ``eval`` — and is
written resolved to every run's ``config.json``. Reading configs from files, dicts and ``--set key=value`` strings is
:mod:`gancompress.config.overrides`.

Example:
    >>> RunCfg().prune.sparsity, PruneCfg(sparsity=0.75).granularity
    (0.5, 'element')
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gancompress.errors import UserError

#: The profiles of `gancompress demo` and `gancompress reproduce`: ``quick`` (minutes: shortened teachers, fewer
#: samples, 1 seed), ``full`` (the published scale: longer teachers, 3 Table 1 seeds) and ``wide`` (realistic widths,
#: ngf 32, and teachers trained to convergence for the channel-compression study; docs/reproduce.md "Wide teachers").
#: A teacher config's ``[profile.<name>]`` table holds what a profile changes in it (docs/config.md "Profiles").
PROFILE_NAMES = ("quick", "full", "wide")

#: The metric groups the evaluator computes (``EvalCfg.metrics``, ``gancompress evaluate --metrics``): listed once
#: here, the default and the valid values (gancompress.evaluate). ``prdc`` = precision, recall, density, coverage.
METRIC_NAMES = ("fid", "kid", "prdc", "class_coverage", "diversity", "fidelity")

#: translation directions of two-domain (unpaired) data: A → B or B → A (DataCfg.direction)
DIRECTIONS = ("a2b", "b2a")


def _count(low: int) -> Callable[[Any], bool]:
    """Accepts an integer >= ``low`` but not a bool (an ``int`` too: ``true`` would silently mean 1)."""
    return lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _require(cfg: Any, keys: str, ok: Callable[[Any], bool], rule: str) -> None:
    """UserError ``<section>.<key> must be <rule>, got <value>`` for the first of the space-separated ``keys`` that
    fails ``ok``: checked at construction, so a bad value never reaches torch (where it fails as a traceback)."""
    section = type(cfg).__name__.removesuffix("Cfg").lower()
    for key in keys.split():
        if not ok(getattr(cfg, key)):
            raise UserError(f"{section}.{key} must be {rule}, got {getattr(cfg, key)!r}")


@dataclass(frozen=True, kw_only=True)
class DataCfg:
    """Which images to train and evaluate on.

    ``name``: a registered dataset (``digits``, ``fashion_mnist``, ``image_folder``, ``fake``).
    ``data_dir``: directory of IDX files or images (``None`` = the dataset's default location).
    ``classes``: keep only these labels (``None`` = all).
    ``limit``: keep at most this many training images (``None`` = all).
    ``direction``: for unpaired two-domain data (``<base>_unpaired``, CycleGAN) which way is translated: ``a2b``
    (source = ``classes[0]``, target = ``classes[1]``) or ``b2a``; other datasets ignore it.
    ``val_fraction``: the share of the training split held out as the ``val`` split (per class; whole groups where
    labels name groups of correlated images, e.g. the photos tiles are cut from). ``0`` = no validation split and
    the whole training split trains. Options are chosen on ``val``, never on ``test`` (docs/method.md §7).
    """

    name: str = "digits"
    data_dir: str | None = None
    image_size: int = 32
    channels: int = 1
    classes: tuple[int, ...] | None = None
    limit: int | None = None
    direction: str = "a2b"
    val_fraction: float = 0.0

    def __post_init__(self) -> None:
        _require(self, "val_fraction", lambda v: _finite(v) and 0 <= v < 1, "a number in [0, 1)")
        if self.direction not in DIRECTIONS:
            raise UserError(f"unknown data.direction {self.direction!r}; valid values: {', '.join(DIRECTIONS)}")
        _require(self, "image_size", _count(1), "a positive integer")
        # grayscale or RGB: the only two load_dataset converts between, and what every family generates
        _require(self, "channels", lambda v: _count(1)(v) and v in (1, 3), "1 or 3")
        _require(self, "limit", lambda v: v is None or _count(1)(v), "None or a positive integer")


@dataclass(frozen=True, kw_only=True)
class ModelCfg:
    """The GAN family and its widths. ``g_kwargs`` / ``d_kwargs`` override the family's defaults."""

    family: str = "dcgan"
    nz: int = 64
    ngf: int = 32
    ndf: int = 32
    g_kwargs: dict[str, Any] = field(default_factory=dict)
    d_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(self, "nz ngf ndf", _count(1), "a positive integer")  # 0 / negative: a oneDNN or shape error


@dataclass(frozen=True, kw_only=True)
class PruneCfg:
    """What to prune, how much, and when (docs/method.md §3).

    ``schedule``: ``agp`` (cubic ramp from ``initial_sparsity`` to ``sparsity`` over the first ``ramp_fraction`` of
    the steps, then fine-tune at ``sparsity``) or ``one_shot`` (final sparsity at step 0).
    ``update_every``: AGP recomputes masks every this many steps (Zhu & Gupta's Δt).
    ``exclude``: module names (as in ``named_modules``) that stay dense.
    ``scope``: ``uniform`` (every layer at ``sparsity``, the paper's setting) or ``global`` (one importance threshold
    across layers; see ``pruning/allocation.py``). ``layer_sparsity``: ``{layer name or pattern: final sparsity}``
    overrides, e.g. ``--set 'prune.layer_sparsity={"net.3": 0.7}'``.
    ``round_to`` (channel granularity): kept widths are rounded to a multiple of it (8 suits SIMD kernels).
    ``target_macs`` (channel granularity): the final channel ratio is chosen so the shrunk model keeps this fraction of
    the dense MACs (``sparsity`` is then ignored); see docs/pruning.md "Channel pruning".
    ``target_speedup`` (channel granularity): the ratio whose shrunk model is measured this much faster than the
    teacher on this machine, with ``speed_backend`` (``onnxruntime`` or ``eager``), ``speed_threads`` and
    ``speed_batch`` (docs/deploy.md "Latency table and speed targets").
    """

    granularity: str = "element"
    sparsity: float = 0.5
    schedule: str = "agp"
    importance: str = "magnitude"
    initial_sparsity: float = 0.05
    ramp_fraction: float = 0.5
    update_every: int = 10
    exclude: tuple[str, ...] = ()
    scope: str = "uniform"
    layer_sparsity: dict[str, float] = field(default_factory=dict)
    round_to: int = 1
    target_macs: float | None = None
    target_speedup: float | None = None
    speed_backend: str = "onnxruntime"
    speed_threads: int = 1
    speed_batch: int = 16

    def __post_init__(self) -> None:
        _require(self, "target_speedup", lambda v: v is None or (_finite(v) and v > 1), "None or a number > 1")
        _require(self, "speed_backend", lambda v: v in ("eager", "onnxruntime"), "eager or onnxruntime")
        _require(self, "speed_threads speed_batch", _count(1), "an integer >= 1")
        if self.target_speedup is not None and self.granularity != "channel":
            raise UserError("prune.target_speedup needs channel granularity (--granularity channel)")
        if self.target_speedup is not None and self.target_macs is not None:
            raise UserError("give prune.target_macs or prune.target_speedup, not both")
        _require(self, "round_to", _count(1), "an integer >= 1 (channel widths are rounded to a multiple of it)")
        fraction = "None or a fraction in (0, 1]"
        _require(self, "target_macs", lambda v: v is None or (_finite(v) and 0 < v <= 1), fraction)
        if self.target_macs is not None and self.granularity != "channel":
            raise UserError("prune.target_macs needs channel granularity (--granularity channel)")
        if not 0.0 <= float(self.sparsity) < 1.0:
            raise UserError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if not 0.0 <= float(self.initial_sparsity) < 1.0:
            raise UserError(f"initial_sparsity must be in [0, 1), got {self.initial_sparsity}")
        if not 0.0 < float(self.ramp_fraction) <= 1.0:
            raise UserError(f"ramp_fraction must be in (0, 1], got {self.ramp_fraction}")
        if int(self.update_every) < 1:
            raise UserError(f"update_every must be >= 1, got {self.update_every}")
        if self.scope not in ("uniform", "global"):
            raise UserError(f"unknown prune.scope {self.scope!r}; valid values: global, uniform.")
        for key, value in self.layer_sparsity.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
                raise UserError(f"prune.layer_sparsity[{key!r}] must be a number in [0, 1), got {value!r}")


@dataclass(frozen=True, kw_only=True)
class MethodCfg:
    """The compression strategy and its loss options (docs/method.md §2).

    ``lam``: λ in Eq. 9 (the paper's only hyper-parameter). ``reduction``: ``batch`` (relative error of batch means)
    or ``sample`` (per-sample relative errors, averaged). ``distance``: ``abs`` (paper) or ``squared``.
    ``anchor``: weight of the optional ‖g_comp(x) − g_orig(x)‖₁ term (0 = paper-faithful).

    Recovery ingredients (docs/pruning.md "Recovery after pruning"; all off by default):
    ``bn_reestimate``: after every mask update, g_comp's BatchNorm running statistics are reset and re-estimated
    over this many training batches (0 = off; every method). ``feature_distill``: weight of the MSE between
    g_orig's intermediate feature maps and g_comp's, mapped by learnable 1×1 adapters (``self_supervised``).
    ``d_feature``: weight of the L1 distance between D's penultimate features of g_comp(x) and g_orig(x)
    (``self_supervised``).
    """

    name: str = "self_supervised"
    lam: float = 0.5
    reduction: str = "batch"
    distance: str = "abs"
    eps: float = 1e-8
    anchor: float = 0.0
    bn_reestimate: int = 0
    feature_distill: float = 0.0
    d_feature: float = 0.0

    def __post_init__(self) -> None:
        if self.reduction not in ("batch", "sample"):
            raise UserError(f"method.reduction must be one of: batch, sample (got {self.reduction!r})")
        if self.distance not in ("abs", "squared"):
            raise UserError(f"method.distance must be one of: abs, squared (got {self.distance!r})")
        _require(self, "bn_reestimate", _count(0), "an integer >= 0 (batches; 0: off)")
        _require(self, "feature_distill d_feature", lambda v: _finite(v) and v >= 0, "a finite number >= 0 (0: off)")


@dataclass(frozen=True, kw_only=True)
class TrainCfg:
    """Optimisation and bookkeeping for the one training loop.

    ``steps``: optimizer steps; ``None`` for compression means ``budget_fraction`` × the teacher's steps
    (docs/method.md §3: 10 % of the original training).
    ``ckpt_every``: a checkpoint every this many steps and at the last step (0: no checkpoints at all);
    ``ckpt_minutes``: also one when this much wall time passed since the last, so a killed run loses at most that
    much (0: by steps only). SIGINT / SIGTERM checkpoint the step in progress before the run stops.
    ``ema``: decay of an exponential moving average of the generator's parameters (0 = off, e.g. 0.999); the
    average, masked like the generator, is what the run returns, saves and evaluates
    (docs/decisions.md "Recovery ingredients").
    """

    steps: int | None = None
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    budget_fraction: float = 0.1
    log_every: int = 10
    sample_every: int = 500
    ckpt_every: int = 500
    ckpt_minutes: float = 3.0
    eval_every: int = 0
    grad_clip: float | None = None
    ema: float = 0.0

    def __post_init__(self) -> None:
        if self.steps is not None and int(self.steps) < 1:
            raise UserError(f"train.steps must be >= 1, got {self.steps}")
        if int(self.batch_size) < 1:
            raise UserError(f"train.batch_size must be >= 1, got {self.batch_size}")
        _require(self, "lr_g lr_d budget_fraction", lambda v: _finite(v) and v > 0, "a finite number > 0")
        _require(self, "beta1 beta2", lambda v: _finite(v) and 0 <= v < 1, "in [0, 1) (Adam's betas)")
        _require(self, "grad_clip", lambda v: v is None or (_finite(v) and v > 0), "> 0, or None for no clipping")
        _require(self, "log_every", _count(1), "an integer >= 1")  # the loop takes steps % log_every
        _require(self, "sample_every ckpt_every eval_every", _count(0), "an integer >= 0 (0: off)")
        _require(self, "ckpt_minutes", lambda v: _finite(v) and v >= 0, "a number of minutes >= 0 (0: off)")
        _require(self, "ema", lambda v: _finite(v) and 0 <= v < 1, "a decay in [0, 1) (0: off)")


@dataclass(frozen=True, kw_only=True)
class EvalCfg:
    """Evaluation: which metrics, how many generated samples, which feature extractor, which held-out split.

    ``split``: ``test`` (what results report, once) or ``val`` (where options are chosen; needs
    ``data.val_fraction > 0``).
    """

    metrics: tuple[str, ...] = METRIC_NAMES
    num_samples: int = 2000
    extractor: str = "domain"
    seeds: int = 1
    batch_size: int = 250
    split: str = "test"

    def __post_init__(self) -> None:
        # 0 samples would end in torch.cat([]) deep inside the evaluator
        _require(self, "num_samples seeds batch_size", _count(1), "a positive integer")
        _require(self, "split", lambda v: v in ("test", "val"), "test or val")


@dataclass(frozen=True, kw_only=True)
class RunCfg:
    """Everything a run needs; written resolved to ``config.json`` in the run directory."""

    data: DataCfg = field(default_factory=DataCfg)
    model: ModelCfg = field(default_factory=ModelCfg)
    prune: PruneCfg = field(default_factory=PruneCfg)
    method: MethodCfg = field(default_factory=MethodCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)
    seed: int = 0
    device: str = "cpu"
