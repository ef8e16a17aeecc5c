"""Files every layer writes and reads: atomic JSON and safetensors, with one-line errors on bad files.

Writes go to a temporary name and are renamed into place (atomic); reads refuse what is not a regular file, is too
large or does not parse, with a ``UserError`` / ``CorruptCheckpointError`` naming the file. What the files *mean* —
saved modules, step checkpoints — is :mod:`gancompress.checkpoint` and :mod:`gancompress.rundir`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from gancompress.errors import CorruptCheckpointError, UserError

FORMAT = "gancompress/1"  # step checkpoints (rundir) and the packed export (which describes itself in its metadata)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically (tmp file then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (Path, torch.device, torch.dtype)):
        return str(obj)
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# A JSON spec / config / results file is kilobytes (a sweep's results.json a few MB); anything bigger is not ours, and
# reading it whole (a symlink to a huge file) could exhaust memory before json.loads even starts.
MAX_JSON_BYTES = 64 * 2**20


def require_file(path: Path, what: str = "file") -> None:
    """Raise a ``UserError`` unless ``path`` is a regular file (symlinks followed): say what it is instead."""
    if path.is_file():
        return
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a {what}; pass the path of the {what} itself")
    if path.exists():  # a device (/dev/zero), FIFO or socket: reading it may never end
        raise UserError(f"{path} is not a regular file (a device, pipe or socket); pass a real {what}")
    raise UserError(f"{what} not found: {path}")


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing / non-regular / oversized / invalid file gives a one-line ``UserError``."""
    path = Path(path)
    require_file(path)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise UserError(
                f"{path} is {size / 2**20:.0f} MB, too large for a JSON spec (limit {MAX_JSON_BYTES // 2**20} MB)"
            )
        with path.open("rb") as fh:  # bounded read: the file may grow between stat and read
            data = fh.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_JSON_BYTES:
        raise UserError(f"{path} is over {MAX_JSON_BYTES // 2**20} MB, too large for a JSON spec")
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:  # e.g. 100 000 nested "[": json's recursive parser overflows the stack
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: JSON nested too deeply to be a spec") from None
    except (ValueError, UnicodeDecodeError) as exc:  # ValueError: JSONDecodeError, and ints beyond 4300 digits
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: not valid JSON ({exc})") from None


def save_tensors(tensors: Mapping[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """safetensors save of detached, contiguous CPU copies, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    # safetensors creates the file 0600; give it the mode every other file of the run gets (0666 minus the umask),
    # so a model saved for deployment is readable by the service account that serves it
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
    return path


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file as stored; a truncated / non-safetensors file gives 'corrupt checkpoint <path>: …'.

    For a module saved by :func:`gancompress.checkpoint.save_module` use
    :func:`gancompress.checkpoint.load_saved_tensors` (masks decoded).
    """
    return read_safetensors(path)[0]


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file, in one read."""
    path = Path(path)
    require_file(path, "checkpoint")
    try:
        with safe_open(str(path), framework="pt") as fh:
            names = fh.keys()  # a safe_open handle is not iterable itself
            return {k: fh.get_tensor(k) for k in names}, dict(fh.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: {exc}") from None


# ------------------------------------------------------------------------------------------------------ caches
def default_cache_dir() -> Path:
    """``$GANCOMPRESS_CACHE`` or ``~/.cache/gancompress``."""
    env = os.environ.get("GANCOMPRESS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "gancompress"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> None:
    """``safetensors.torch.save_file`` to a temporary file, then rename (readers never see a half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
