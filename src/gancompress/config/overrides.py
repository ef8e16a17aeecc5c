"""Configs from and to plain data: dicts, config files (TOML / YAML / JSON) and dotted ``--set key=value`` overrides.

Every value is converted to its annotated type and checked; an unknown key lists the valid ones.

Example:
    >>> cfg = override(RunCfg(), ["prune.sparsity=0.75", "train.steps=100"])
    >>> cfg.prune.sparsity, cfg.train.steps
    (0.75, 100)
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from gancompress.config.schema import PROFILE_NAMES, RunCfg
from gancompress.errors import UserError

T = TypeVar("T")


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


def load_config(path: str | Path, base: RunCfg | None = None, *, profile: str | None = None) -> RunCfg:
    """Read a TOML, YAML (``.yaml``/``.yml``, needs PyYAML) or JSON config file; keys not given keep ``base``'s.

    Every key is validated as in :func:`override`: an unknown key lists the valid ones, a wrong type names the key.
    A ``[profile.<name>]`` table (e.g. ``[profile.wide.model]``) holds keys that profile changes; it is applied
    over the file's own keys when ``profile`` names it and ignored otherwise (docs/config.md "Profiles").

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
    data = with_profile(data, profile, where=f"config {p}")
    try:
        return apply_dict(base or RunCfg(), data)
    except UserError as exc:
        raise UserError(f"{exc} (in config {p})") from None


def with_profile(data: dict[str, Any], profile: str | None, *, where: str = "config") -> dict[str, Any]:
    """A config file's keys without its ``profile`` table, with ``[profile.<profile>]`` merged over them.

    Example:
        >>> raw = {"model": {"ngf": 8, "ndf": 16}, "profile": {"wide": {"model": {"ngf": 32}}}}
        >>> with_profile(raw, "wide"), with_profile(raw, None)
        ({'model': {'ngf': 32, 'ndf': 16}}, {'model': {'ngf': 8, 'ndf': 16}})
    """
    data = dict(data)
    profiles = data.pop("profile", None) or {}
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise UserError(f"{where}: [profile] must hold one table per profile, e.g. [profile.wide.model]")
    unknown = [name for name in profiles if name not in PROFILE_NAMES]
    if unknown:
        raise UserError(f"{where}: unknown profile {unknown[0]!r} in [profile]; valid: {', '.join(PROFILE_NAMES)}")
    if profile is None:
        return data
    if profile not in profiles:
        have = ", ".join(profiles) or "none"
        raise UserError(f"{where} has no [profile.{profile}] table (profiles it defines: {have})")
    return _deep_merge(data, profiles[profile])


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
