"""``--resume`` needs nothing but ``--out RUN``: a run records its inputs, and a resumed run keeps them and its config.

A run's ``config.json`` holds the resolved config and, under ``"inputs"``, what the command read besides it (the
teacher run, weight files, a ``--model`` factory, the teacher's step count). ``gancompress compress --out RUN
--resume`` fills every input flag it was not given from there; a flag given again must name the same input, and a
config flag (``--sparsity``, ``--set …``) must not change the saved config — a resumed run that silently changed
would not be the run it claims to continue.

Example:
    >>> import argparse
    >>> recorded_inputs(argparse.Namespace(teacher="runs/t", generator=None, model=None))["teacher"].endswith("runs/t")
    True
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

from gancompress.config import RunCfg, to_dict
from gancompress.errors import UserError

log = logging.getLogger(__name__)

#: argparse destinations recorded in ``config.json["inputs"]``; paths are stored absolute
INPUTS = ("teacher", "generator", "discriminator", "generator_arch", "discriminator_arch", "model", "teacher_steps")
_PATHS = ("teacher", "generator", "discriminator", "generator_arch", "discriminator_arch")


def recorded_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """The input flags of ``args`` that were given, paths made absolute (so a resume from elsewhere finds them)."""
    out: dict[str, Any] = {}
    for name in INPUTS:
        value = getattr(args, name, None)
        if value is None:
            continue
        if name in _PATHS:
            value = str(Path(value).expanduser().resolve())
        elif name == "model":
            file, _, factory = str(value).rpartition(":")
            value = f"{Path(file).expanduser().resolve()}:{factory}" if file else value
        out[name] = value
    return out


def _same(name: str, given: Any, saved: Any) -> bool:
    if name in _PATHS:
        return Path(given).expanduser().resolve() == Path(saved)
    if name == "model":
        return recorded_inputs(argparse.Namespace(model=given))["model"] == saved
    return given == saved


def restore_inputs(args: argparse.Namespace, saved: dict[str, Any]) -> None:
    """Fill ``args``' input flags from a run's recorded inputs; refuse a flag that names a different input."""
    for name, value in (saved or {}).items():
        if name not in INPUTS:
            continue
        given = getattr(args, name, None)
        if given is None:
            setattr(args, name, value)
        elif not _same(name, given, value):
            flag = "--" + name.replace("_", "-")
            raise UserError(
                f"{flag} {given} differs from the run's recorded {flag} {value}; a resumed run keeps its inputs "
                f"(drop {flag}, or start a new run with --overwrite)"
            )


def check_unchanged(saved: RunCfg, requested: RunCfg) -> None:
    """Refuse config flags that would change a resumed run (``--device`` may change: it moves, not alters, it)."""
    a, b = to_dict(dataclasses.replace(saved, device="cpu")), to_dict(dataclasses.replace(requested, device="cpu"))
    diffs = [f"{key}: {old!r} → {new!r}" for key, old, new in _walk(a, b)]
    if diffs:
        raise UserError(
            "a resumed run keeps its config, but these flags change it: " + "; ".join(diffs[:4])
            + (f" (and {len(diffs) - 4} more)" if len(diffs) > 4 else "")
            + " — drop them, or start a new run with --overwrite"
        )  # fmt: skip


def _walk(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    out = []
    for key in a:
        if isinstance(a[key], dict) and isinstance(b.get(key), dict):
            out += _walk(a[key], b[key], f"{prefix}{key}.")
        elif a[key] != b.get(key):
            out.append((f"{prefix}{key}", a[key], b.get(key)))
    return out


__all__ = ["INPUTS", "check_unchanged", "recorded_inputs", "restore_inputs"]
