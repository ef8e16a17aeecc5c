"""Typed, frozen run configuration (nanoGPT-style dataclasses) with dotted ``--set key=value`` overrides.

Example:
    >>> cfg = RunCfg()
    >>> cfg = override(cfg, ["prune.sparsity=0.75", "train.steps=100"])
    >>> cfg.prune.sparsity, cfg.train.steps
    (0.75, 100)
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gancompress.errors import UserError

#: The profiles of `gancompress demo` and `gancompress reproduce`: ``quick`` (minutes: shortened teachers, fewer
#: samples, 1 seed) and ``full`` (the published scale: longer teachers, 3 Table 1 seeds).
PROFILE_NAMES = ("quick", "full")

T = TypeVar("T")

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
    """What to prune, how much, and when (PAPER.md §3).

    ``schedule``: ``agp`` (cubic ramp from ``initial_sparsity`` to ``sparsity`` over the first ``ramp_fraction`` of
    the steps, then fine-tune at ``sparsity``) or ``one_shot`` (final sparsity at step 0).
    ``update_every``: AGP recomputes masks every this many steps (Zhu & Gupta's Δt).
    ``exclude``: module names (as in ``named_modules``) that stay dense.
    ``scope``: ``uniform`` (every layer at ``sparsity``, the paper's setting) or ``global`` (one importance threshold
    across layers; see ``pruning/allocation.py``). ``layer_sparsity``: ``{layer name or pattern: final sparsity}``
    overrides, e.g. ``--set 'prune.layer_sparsity={"net.3": 0.7}'``.
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

    def __post_init__(self) -> None:
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
    """The compression strategy and its loss options (PAPER.md §2).

    ``lam``: λ in Eq. 9 (the paper's only hyper-parameter). ``reduction``: ``batch`` (relative error of batch means)
    or ``sample`` (per-sample relative errors, averaged). ``distance``: ``abs`` (paper) or ``squared``.
    ``anchor``: weight of the optional ‖g_comp(x) − g_orig(x)‖₁ term (0 = paper-faithful).
    """

    name: str = "self_supervised"
    lam: float = 0.5
    reduction: str = "batch"
    distance: str = "abs"
    eps: float = 1e-8
    anchor: float = 0.0

    def __post_init__(self) -> None:
        if self.reduction not in ("batch", "sample"):
            raise UserError(f"method.reduction must be one of: batch, sample (got {self.reduction!r})")
        if self.distance not in ("abs", "squared"):
            raise UserError(f"method.distance must be one of: abs, squared (got {self.distance!r})")


@dataclass(frozen=True, kw_only=True)
class TrainCfg:
    """Optimisation and bookkeeping for the one training loop.

    ``steps``: optimizer steps; ``None`` for compression means ``budget_fraction`` × the teacher's steps
    (docs/method.md §3: 10 % of the original training).
    ``ckpt_every``: a checkpoint every this many steps and at the last step (0: no checkpoints at all);
    ``ckpt_minutes``: also one when this much wall time passed since the last, so a killed run loses at most that
    much (0: by steps only). SIGINT / SIGTERM checkpoint the step in progress before the run stops.
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


@dataclass(frozen=True, kw_only=True)
class EvalCfg:
    """Evaluation: which metrics, how many generated samples, which feature extractor, which held-out split.

    ``split``: ``test`` (what results report, once) or ``val`` (where options are chosen; needs
    ``data.val_fraction > 0``).
    """

    metrics: tuple[str, ...] = ("fid", "kid", "prdc", "class_coverage", "diversity", "fidelity")
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


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config dataclass."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=list))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert ``value`` (JSON/TOML/CLI text) to the annotated type ``tp``; UserError naming ``where`` otherwise."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except UserError as exc:
                errors.append(str(exc))
        raise UserError(errors[0] if errors else f"{where}: cannot be None")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a table/dict, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in (s.strip() for s in value.split(",")) if v]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(v, item, where) for v in value)
    if origin is dict or tp is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise UserError(f"{where}: expected a JSON object, got {value!r}") from None
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a dict, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise UserError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise UserError(f"{where}: expected an integer, got {json.dumps(value)}")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())  # exact for big integers
        except ValueError:
            pass
        try:
            as_float = float(value)
            if as_float != int(as_float):
                raise ValueError
            return int(as_float)
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{where}: expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):  # JSON/TOML true is not 1.0
            raise UserError(f"{where}: expected a number, got {json.dumps(value)}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UserError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build config dataclass ``cls`` from a plain dict; unknown keys list the valid ones."""
    if not isinstance(data, dict):  # e.g. a config.json holding a list: no AttributeError from .items()
        raise UserError(f"{where or 'config'}: expected a table/dict, got {type(data).__name__}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            raise UserError(
                f"unknown config key {path!r}; valid keys{' under ' + where if where else ''}: {', '.join(names)}"
            )
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def override(cfg: T, assignments: list[str] | tuple[str, ...]) -> T:
    """Apply ``section.key=value`` strings to a (nested) frozen config and return the new config."""
    for text in assignments:
        if "=" not in text:
            raise UserError(f"--set expects key=value, got {text!r}")
        key, raw = text.split("=", 1)
        cfg = _set(cfg, key.strip().split("."), raw.strip(), key.strip())
    return cfg


def _set(obj: Any, parts: list[str], raw: str, full: str) -> Any:
    hints = _hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    head = parts[0]
    if head not in names:
        raise UserError(f"unknown config key {full!r}; valid keys here: {', '.join(names)}")
    current = getattr(obj, head)
    if len(parts) == 1:
        value: Any = raw
        if raw.startswith(("[", "{")):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
        return dataclasses.replace(obj, **{head: _coerce(value, hints[head], full)})
    if not dataclasses.is_dataclass(current):
        raise UserError(f"config key {full!r}: {head!r} has no sub-keys")
    return dataclasses.replace(obj, **{head: _set(current, parts[1:], raw, full)})


def load_config(path: str | Path, base: RunCfg | None = None) -> RunCfg:
    """Read a TOML, YAML (``.yaml``/``.yml``, needs PyYAML) or JSON config file; keys not given keep ``base``'s.

    Every key is validated as in :func:`override`: an unknown key lists the valid ones, a wrong type names the key.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "run.toml"
        >>> _ = p.write_text('seed = 3\\nprune = { sparsity = 0.75 }')
        >>> cfg = load_config(p)
        >>> cfg.seed, cfg.prune.sparsity, cfg.prune.granularity
        (3, 0.75, 'element')
    """
    p = Path(path)
    if not p.exists():
        raise UserError(f"config file not found: {p}")
    if not p.is_file():  # a directory or a device (/dev/zero would be read forever): say which
        kind = "a directory" if p.is_dir() else "not a regular file"
        raise UserError(f"config {p} is {kind}; pass a TOML, YAML or JSON file")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config {p}: {exc}") from None
    data = _parse(p, text)
    if not isinstance(data, dict):
        raise UserError(f"config {p}: expected a table of sections (data, model, prune, …), got {type(data).__name__}")
    try:
        return apply_dict(base or RunCfg(), data)
    except UserError as exc:
        raise UserError(f"{exc} (in config {p})") from None


def apply_dict(base: RunCfg, data: dict[str, Any]) -> RunCfg:
    """``base`` with the keys of a nested dict (as a config file holds) replaced; validated like :func:`override`.

    Example:
        >>> apply_dict(RunCfg(), {"model": {"ngf": 8}}).model.ngf
        8
    """
    return from_dict(RunCfg, _deep_merge(to_dict(base), data))


def _parse(p: Path, text: str) -> Any:
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise UserError(f"config {p}: YAML needs PyYAML (pip install pyyaml), or write it as TOML") from None
        try:
            return yaml.safe_load(text) or {}  # safe_load: plain data only, never objects
        except yaml.YAMLError as exc:
            raise UserError(f"cannot parse config {p}: {' '.join(str(exc).split())}") from None
    try:
        return json.loads(text) if suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"cannot parse config {p}: {exc}") from None


def _deep_merge(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in ("g_kwargs", "d_kwargs"):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out
