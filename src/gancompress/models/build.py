"""Building a registered architecture by name, and rebuilding one from its JSON spec (no pickled code).

Every module built by :func:`create_model` carries ``arch_spec`` = ``{"arch": name, "kwargs": {...}}`` so a checkpoint
can be rebuilt from JSON alone (no pickled code). Specs come from files users pass in, so :func:`create_model` checks
them before anything is allocated: argument names and integer widths against the constructor's signature, and the
parameter count of a dry build on the ``meta`` device against :data:`MAX_PARAMS`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancompress.errors import UserError, first_line
from gancompress.registry import Registry

MODELS: Registry = Registry("model architecture")

# Parameters + buffers (elements) a spec may ask for: 2e9 ≈ 8 GB in float32, ~100× the largest model this project
# trains. A hostile or mistyped width (ngf=1e9) would otherwise try to allocate terabytes before any other check.
MAX_PARAMS = 2_000_000_000
# Integer arguments with a positive default: widths / sizes up to MAX_INT_KWARG, counts of repeated blocks or layers
# (``n_*`` / ``num_*``) up to MAX_COUNT_KWARG. No sensible spec comes near either; the count bound keeps the number of
# Python module objects the meta-device dry build itself creates small (n_blocks=65536 takes a minute to build, 1e9
# would exhaust memory there, before MAX_PARAMS is ever checked).
MAX_INT_KWARG = 65_536
MAX_COUNT_KWARG = 1_024


def create_model(arch: str, **kwargs: Any) -> nn.Module:
    """Build a registered architecture and record how (``module.arch_spec``).

    Bad specs are ``UserError``: an unknown architecture or argument, a bool / fractional / non-positive / absurdly
    large value for an argument whose default is a positive int, more than :data:`MAX_PARAMS` parameters, and any
    ``TypeError`` / ``ValueError`` / ``RuntimeError`` of the constructor (its first line kept). An integral float
    (``8.0``, what JSON gives for ``8e0``) is accepted as the int.

    Example:
        >>> g = create_model("dcgan_generator", nz=16, ngf=8, channels=1, image_size=32)
        >>> g.arch_spec["arch"]
        'dcgan_generator'
    """
    if not isinstance(arch, str):
        raise UserError(f"arch must be a string naming a registered model, got {type(arch).__name__} {arch!r}")
    factory = MODELS.get(arch)
    kwargs = _check_kwargs(arch, factory, kwargs)
    _check_size(arch, factory, kwargs)
    try:
        module = factory(**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise UserError(f"cannot build {arch} from {kwargs}: {first_line(exc)}") from exc
    module.arch_spec = {"arch": arch, "kwargs": dict(kwargs)}
    return module


def create_model_from_spec(spec: Any, source: str | Path) -> nn.Module:
    """:func:`create_model` from a parsed arch JSON ``{"arch": name, "kwargs": {...}}`` read from ``source``.

    Checks the shape of the spec first (``arch`` a string, ``kwargs`` an object), so a hand-edited file gives a
    ``UserError`` naming ``source`` rather than a ``TypeError`` from ``**kwargs``.
    """
    if not isinstance(spec, Mapping) or "arch" not in spec:
        raise UserError(f"{source}: an arch JSON must be an object with an 'arch' entry (a registered model name)")
    arch, kwargs = spec["arch"], spec.get("kwargs", {})
    if not isinstance(arch, str):
        raise UserError(f"{source}: 'arch' must be a string (a registered model name), got {type(arch).__name__}")
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise UserError(
            f"{source}: 'kwargs' must be an object of argument names to values, got {type(kwargs).__name__}"
        )
    return create_model(arch, **kwargs)


def _signature(factory: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin / C factory: nothing to check against
        return None


def _check_kwargs(arch: str, factory: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Names against the signature; integer-like arguments (positive-int default) normalised and range-checked."""
    sig = _signature(factory)
    if sig is None:
        return dict(kwargs)
    params = sig.parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = [k for k in kwargs if k not in named]
        if unknown:
            raise UserError(f"unknown argument {unknown[0]!r} for {arch}; valid arguments: {', '.join(named)}")
    out = dict(kwargs)
    for name, value in kwargs.items():
        param = params.get(name)
        default = param.default if param is not None else None
        # generic rule, no per-architecture names: an argument whose default is a positive int is a width, depth
        # or size and must be a whole number; bool is an int subclass but never meant as a width
        if isinstance(default, int) and not isinstance(default, bool) and default > 0:
            out[name] = _as_count(arch, name, value)
    return out


def _as_count(arch: str, name: str, value: Any) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{arch}: {name} must be a whole number, got {type(value).__name__} {value!r}")
    # counts of repeated blocks / layers (n_*, num_*) may be 0 (e.g. resnet_generator without residual blocks); a
    # width or size of 0 builds zero-channel layers that only fail later, inside forward
    low, high = (0, MAX_COUNT_KWARG) if name.startswith(("n_", "num_")) else (1, MAX_INT_KWARG)
    if not low <= value <= high:
        raise UserError(f"{arch}: {name} must be between {low} and {high}, got {value}")
    return value


def _check_size(arch: str, factory: Any, kwargs: dict[str, Any]) -> None:
    """Build once on the meta device (shapes only, no memory) and refuse more than :data:`MAX_PARAMS` elements."""
    try:
        with torch.device("meta"):
            dry = factory(**kwargs)
        count = sum(t.numel() for t in dry.parameters()) + sum(t.numel() for t in dry.buffers())
    except UserError:
        raise  # the constructor's own validation: the real build would raise the same
    except Exception:  # some layer cannot be built on meta: the real build decides (and reports any error)
        return
    if count > MAX_PARAMS:
        raise UserError(
            f"architecture {arch} with {kwargs} would have {count:,} parameters (> {MAX_PARAMS:,}); check the widths"
        )


__all__ = ["MAX_PARAMS", "MODELS", "create_model", "create_model_from_spec"]
