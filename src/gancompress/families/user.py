"""Bring-your-own GAN on the command line: ``--model path/to/module.py:factory``.

The named file is **imported and executed** (it is the user's own code, named explicitly on the command line; a saved
run only *records* the spec and never runs it by itself). ``factory()`` returns ``(generator, discriminator, loss)``:
two ``nn.Module`` (the discriminator may be ``None`` for methods that do not need one) and a
:class:`gancompress.GanLoss`. Weights come from ``--generator`` / ``--discriminator`` files and are loaded strictly.

Modules built this way carry ``arch_spec = {"arch": "user", "model": "<path>:<factory>"}``, so ``generator.json``
says how to rebuild them; loading such a run needs the same ``--model`` again.

Example:
    >>> m = build_user_model("examples/byo_model.py:build")                   # doctest: +SKIP
    >>> load_user_weights(m, "runs/byo/teacher/generator.safetensors")        # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancompress.checkpoint import import_state_dict, load_module, load_state_dict_checked
from gancompress.errors import UserError, describe
from gancompress.families.checks import check_batch, check_float32, module_device, probe_generator, refuse_torchscript
from gancompress.families.contract import GanLoss
from gancompress.files import read_json
from gancompress.pruning.granularity import PRUNABLE_TYPES

log = logging.getLogger(__name__)

USER_ARCH = "user"
#: ``model.family`` recorded in config.json of runs made with ``--model`` (no registered family rebuilds them).
USER_FAMILY = "user"


@dataclass
class UserModel:
    """What ``factory()`` built: the generator, the discriminator (or ``None``) and the loss object."""

    spec: str
    generator: nn.Module
    discriminator: nn.Module | None
    loss: GanLoss


def _split(spec: str) -> tuple[Path, str]:
    path, sep, factory = spec.rpartition(":")
    if not sep or not path or not factory.isidentifier():
        raise UserError(f"--model {spec!r}: expected path/to/module.py:factory (a Python file and a function name)")
    return Path(path), factory


def _import_file(path: Path) -> Any:
    """Import ``path`` as a module (its directory is importable while it runs, as for ``python path``)."""
    if not path.is_file():
        raise UserError(f"--model: file not found: {path}")
    name = f"gancompress_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"--model: cannot import {path} (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    # the user's code: report it in one line, the file and the first line of the error; a sys.exit() in it would
    # otherwise end gancompress with that code and no output
    except (Exception, SystemExit) as exc:
        raise UserError(f"--model: importing {path} failed: {describe(exc)}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def build_user_model(spec: str) -> UserModel:
    """Import the file of ``spec`` (``path.py:factory``), call ``factory()`` and check what it returns.

    Raises:
        UserError: file not found, no such factory, a wrong return value, or a generator with no prunable layer.
    """
    path, factory_name = _split(spec)
    module = _import_file(path)
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise UserError(f"--model: {path} has no function {factory_name!r} (callables defined: {', '.join(found)})")
    try:
        out = factory()
    except (Exception, SystemExit) as exc:
        raise UserError(f"--model: {spec}() failed: {describe(exc)}") from None
    shape = "(generator: nn.Module, discriminator: nn.Module | None, loss: gancompress.GanLoss)"
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise UserError(f"--model: {spec}() returned {type(out).__name__}; it must return {shape}")
    g, d, loss = out
    for what, value, ok in (
        ("generator", g, isinstance(g, nn.Module)),
        ("discriminator", d, d is None or isinstance(d, nn.Module)),
        ("loss", loss, isinstance(loss, GanLoss)),
    ):
        if not ok:
            raise UserError(
                f"--model: {spec}() returned a {type(value).__name__} as the {what}; it must return {shape}"
            )
    refuse_torchscript(g, f"--model: the generator from {spec}")  # else "no prunable layer", which misleads
    if not any(isinstance(m, PRUNABLE_TYPES) for m in g.modules()):
        raise UserError(
            f"--model: the generator from {spec} has no prunable layer (Conv2d, ConvTranspose2d or Linear); "
            "nothing to compress"
        )
    for m in (g, d):
        if m is not None:
            m.arch_spec = {"arch": USER_ARCH, "model": spec}
    return UserModel(spec, g, d, loss)


def load_user_weights(model: UserModel, generator: str | None, discriminator: str | None = None) -> UserModel:
    """Load ``--generator`` (and ``--discriminator``) weight files strictly into the modules of ``model``."""
    if generator:
        load_state_dict_checked(model.generator, import_state_dict(generator), generator)
    if discriminator:
        if model.discriminator is None:
            raise UserError(f"--discriminator {discriminator}: {model.spec}() returned no discriminator (None)")
        load_state_dict_checked(model.discriminator, import_state_dict(discriminator), discriminator)
    return model


def check_image_output(model: UserModel, channels: int, image_size: int) -> None:
    """Refuse a generator whose output is not an image batch (B, C, H, W) of the data's size, one image per input.

    The forward and the batch check are :mod:`gancompress.families.checks`' (shared with ``gc.compress``).

    Raises:
        UserError: naming the dtype, the failure or the shape the generator made and the config keys to change.
    """
    g, who, what = model.generator, f"--model: the generator from {model.spec}", "sample_input(2, …)"
    check_float32(g, model.discriminator)  # float64 weights would fail the probe with a raw dtype message
    device = module_device(g)
    out = probe_generator(g, lambda: model.loss.sample_input(2, torch.Generator().manual_seed(0), device), what, who)
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(f"{who} returns {got}; it must return images (B, C, H, W)")
    made = tuple(out.shape[1:])
    if made != (channels, image_size, image_size):
        raise UserError(
            f"{who} makes {made[0]}×{made[1]}×{made[2]} images but the data is "
            f"{channels}×{image_size}×{image_size} (C×H×W); set data.image_size={made[1]} and "
            f"data.channels={made[0]} (--set) to match the generator"
        )
    check_batch(out, 2, what, who)


def load_teacher(
    spec: str, generator: str | None, discriminator: str | None, *, allow_random: bool = False
) -> UserModel:
    """The CLI's teacher: ``--model`` + weight files (no ``--generator`` only with ``allow_random``: dry runs)."""
    path, _ = _split(spec)
    if not path.is_file():
        raise UserError(f"--model: file not found: {path}")
    if not generator and not allow_random:
        raise UserError(f"--model {spec}: pass --generator WEIGHTS (.safetensors or a .pt state_dict) with the weights")
    model = build_user_model(spec)
    if not generator:
        log.warning("--dry-run without --generator: compressing the untrained model from %s", spec)
    return load_user_weights(model, generator, discriminator)


def is_user_run(directory: str | Path, name: str = "generator") -> bool:
    """Whether ``<directory>/<name>.json`` records a ``--model`` (user) architecture."""
    path = Path(directory) / f"{name}.json"
    meta = read_json(path) if path.is_file() else None
    return isinstance(meta, dict) and meta.get("arch") == USER_ARCH


def load_saved(directory: str | Path, name: str, spec: str | None, device: str = "cpu") -> nn.Module:
    """:func:`gancompress.checkpoint.load_module`, rebuilding a user architecture with ``spec`` (``--model``) when
    needed."""
    if not is_user_run(directory, name):
        return load_module(directory, name, device)
    recorded = read_json(Path(directory) / f"{name}.json").get("model")
    if not spec:
        raise UserError(
            f"{directory} holds a user model built by {recorded!r}; pass --model {recorded} to load it "
            f"(Python: gancompress.load_gan(path, model={recorded!r}))"
        )
    model = build_user_model(spec)
    module = model.generator if name == "generator" else model.discriminator
    if module is None:
        raise UserError(f"--model {spec}: returned no {name}, but {directory} holds one")
    return load_module(directory, name, device, module=module)


__all__ = [
    "USER_ARCH",
    "UserModel",
    "build_user_model",
    "check_image_output",
    "is_user_run",
    "load_saved",
    "load_teacher",
    "load_user_weights",
]
