"""Checkpoints (safetensors + JSON arch spec, never pickled models), safe import of .pt files, run directories.

A saved module is two files: ``<name>.safetensors`` (every tensor of its state_dict, masks included) and
``<name>.json`` (``{"format", "arch", "kwargs", "masked_layers", ...}``), enough to rebuild it with
:func:`gancompress.models.create_model` and no code from the file.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import platform
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from gancompress.errors import CorruptCheckpointError, UnsafeCheckpointError, UserError

log = logging.getLogger(__name__)

FORMAT = "gancompress/1"
RESAVE_HINT = (
    "re-save it as a plain state_dict in the original code: torch.save(your_model.state_dict(), 'weights.pt') "
    "(or safetensors.torch.save_file(your_model.state_dict(), 'weights.safetensors'))"
)


# ----------------------------------------------------------------------------------------------------- atomic files
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


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: not valid JSON ({exc})") from None


def save_tensors(tensors: Mapping[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """safetensors save of detached, contiguous CPU copies, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file; a truncated / non-safetensors file gives 'corrupt checkpoint <path>: …'."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: {exc}") from None


# ------------------------------------------------------------------------------------------------ foreign weights
def import_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read user weights: ``.safetensors`` directly, ``.pt/.pth/.bin`` only through PyTorch's restricted loader.

    ``torch.load(weights_only=True)`` cannot execute code; a file that needs full unpickling (a whole pickled model,
    a payload) is refused with a message saying how to re-save it. A ``{"state_dict": {...}}`` wrapper is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        return load_tensors(path)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower() or _needs_code(path):
            raise UnsafeCheckpointError(
                f"refused {path}: it needs full unpickling (a pickled model or code), which could run arbitrary code; "
                f"{RESAVE_HINT}"
            ) from None
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: not a readable PyTorch state_dict file") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: {msg}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} is not a state_dict (a dict of tensor names to tensors); {RESAVE_HINT}")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def _needs_code(path: Path) -> bool:
    """Whether a (possibly zipped) pickle stream imports globals / calls objects — read with pickletools, never run.

    A stream that does not even parse as pickle is corrupt, not unsafe.
    """
    import pickletools

    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(".pkl")]
            data = zf.read(names[0]) if names else b""
    code_ops = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"}
    try:
        ops = {op.name for op, _, _ in pickletools.genops(data)}
    except Exception:
        return False
    return bool(ops & code_ops)


def load_state_dict_checked(module: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """``load_state_dict(strict=True)`` with an error naming the first mismatching tensor and both shapes."""
    from gancompress.pruning import MaskSet

    MaskSet.ensure_mask_buffers(module, list(state))
    own = module.state_dict()
    for name, tensor in own.items():
        if name not in state:
            raise UserError(
                f"weights in {source} do not match the architecture: missing tensor {name!r} "
                f"(expected shape {tuple(tensor.shape)})"
            )
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise UserError(
                f"weights in {source} do not match the architecture: tensor {name!r} has shape "
                f"{tuple(state[name].shape)} in the file but {tuple(tensor.shape)} in the model"
            )
    extra = [k for k in state if k not in own]
    if extra:
        raise UserError(
            f"weights in {source} do not match the architecture: unexpected tensor {extra[0]!r} "
            f"(shape {tuple(state[extra[0]].shape)})"
        )
    module.load_state_dict(dict(state), strict=True)


# --------------------------------------------------------------------------------------------------- modules
def save_module(module: nn.Module, directory: str | Path, name: str, extra: dict[str, Any] | None = None) -> Path:
    """Save ``module`` as ``<name>.safetensors`` + ``<name>.json`` (arch spec, masked layers, ``extra``)."""
    directory = Path(directory)
    spec = getattr(module, "arch_spec", None)
    if spec is None:
        raise UserError(
            f"cannot save {type(module).__name__}: it has no arch_spec (build it with create_model or "
            "gancompress.models.register_user_model)"
        )
    state = module.state_dict()
    masked = [k.removesuffix(".weight_mask") for k in state if k.endswith(".weight_mask")]
    save_tensors(state, directory / f"{name}.safetensors", metadata={"format": FORMAT})
    meta = {"format": FORMAT, **spec, "masked_layers": masked, **(extra or {})}
    if getattr(module, "channel_spec", None):  # physically pruned (pruning/physical.py): record the smaller sizes
        from gancompress.pruning.physical import channel_spec

        meta["channel_spec"] = channel_spec(module)
    write_json(directory / f"{name}.json", meta)
    return directory / f"{name}.safetensors"


def load_module(
    directory: str | Path, name: str, device: str | torch.device = "cpu", *, module: nn.Module | None = None
) -> nn.Module:
    """Rebuild a module saved by :func:`save_module` from its JSON spec and load its tensors (masks included).

    ``module``: a freshly built module to load into instead (a ``--model`` user architecture, ``user_model.py``).
    """
    from gancompress.models import create_model

    directory = Path(directory)
    meta = read_json(directory / f"{name}.json")
    if not isinstance(meta, dict) or "arch" not in meta:
        raise CorruptCheckpointError(f"corrupt checkpoint {directory / (name + '.json')}: no 'arch' entry")
    if module is None and meta["arch"] == "user":  # built by the user's code: never run it implicitly
        raise UserError(
            f"{directory} holds a user model built by {meta.get('model')!r}; rebuild it with --model "
            f"{meta.get('model')} (compress, prune, evaluate) or gancompress.load_gan(path, model=...)"
        )
    if module is None:
        module = create_model(meta["arch"], **meta.get("kwargs", {}))
    if meta.get("channel_spec"):  # physically pruned: shrink the fresh full-size layers before loading
        from gancompress.pruning.physical import apply_channel_spec

        if not isinstance(meta["channel_spec"], dict):
            raise CorruptCheckpointError(f"corrupt checkpoint {directory / (name + '.json')}: bad 'channel_spec'")
        apply_channel_spec(module, meta["channel_spec"])
    path = directory / f"{name}.safetensors"
    load_state_dict_checked(module, load_tensors(path), path)
    return module.to(device)


# ------------------------------------------------------------------------------------------------- optimizers
def optimizer_to_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Flatten an optimizer state_dict into safetensors-able tensors + JSON (no pickle)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(
    opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], meta: dict[str, Any], prefix: str
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


# ---------------------------------------------------------------------------------------------------- run dirs
class RunDir:
    """One command's output directory (DESIGN.md "Run directory").

    Refuses an existing non-empty directory unless ``resume`` (continue it) or ``overwrite`` (replace it).
    Only the writer process (rank 0) should create one.
    """

    def __init__(self, path: str | Path, *, resume: bool = False, overwrite: bool = False, create: bool = True) -> None:
        self.path = Path(path)
        if create:
            exists = self.path.exists() and any(self.path.iterdir())
            if exists and not (resume or overwrite):
                raise UserError(
                    f"output directory {self.path} already exists; pass --resume to continue that run or "
                    "--overwrite to replace it (refusing to mix runs)"
                )
            if exists and overwrite and not resume:
                shutil.rmtree(self.path)
            self.path.mkdir(parents=True, exist_ok=True)
        self._tb: Any = None

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    def write_json(self, name: str, obj: Any) -> Path:
        return write_json(self.path / name, obj)

    def log_metrics(self, step: int, scalars: Mapping[str, float]) -> None:
        """Append one line to metrics.jsonl and the same scalars to TensorBoard."""
        row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
        with open(self.path / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.path / "tb"))
            except ImportError:  # tensorboard is a declared dependency; degrade rather than die mid-run
                log.warning("tensorboard not importable; metrics go to metrics.jsonl only")
                self._tb = False
        if self._tb:
            for k, v in scalars.items():
                self._tb.add_scalar(k, float(v), int(step))

    def truncate_metrics(self, step: int) -> None:
        """Drop ``metrics.jsonl`` rows after ``step`` (a resumed run logs them again from its checkpoint)."""
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return
        keep = []
        for line in path.read_text().splitlines():
            try:
                if int(json.loads(line)["step"]) <= step:
                    keep.append(line)
            except (ValueError, KeyError, TypeError):  # a line cut by a kill mid-write
                continue
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        os.replace(tmp, path)

    def close(self) -> None:
        if self._tb:
            self._tb.flush()
            self._tb.close()
        self._tb = None

    def latest_checkpoint(self) -> Path | None:
        return latest_checkpoint(self.path)


def latest_checkpoint(run_path: str | Path) -> Path | None:
    ckdir = Path(run_path) / "checkpoints"
    steps = sorted((int(p.name.split("_")[1]), p) for p in ckdir.glob("step_*") if p.name.split("_")[1].isdigit())
    return steps[-1][1] if steps else None


def save_checkpoint(
    run_path: str | Path, step: int, tensors: Mapping[str, torch.Tensor], meta: dict[str, Any], keep: int = 2
) -> Path:
    """Write ``checkpoints/step_<step>/`` atomically (tmp dir then rename); keep the newest ``keep``."""
    ckdir = Path(run_path) / "checkpoints"
    final = ckdir / f"step_{step}"
    tmp = ckdir / f".tmp_step_{step}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_tensors(tensors, tmp / "state.safetensors")
    write_json(tmp / "state.json", {"format": FORMAT, "step": step, **meta})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    old = sorted((int(p.name.split("_")[1]), p) for p in ckdir.glob("step_*") if p.name.split("_")[1].isdigit())
    for _, p in old[:-keep]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(path)
    return load_tensors(path / "state.safetensors"), read_json(path / "state.json")


# --------------------------------------------------------------------------------------------------------- env
def env_info(seed: int, device: str) -> dict[str, Any]:
    """Versions, git SHA, seed, device and threads: written as env.json into every run."""
    sha = None
    try:
        root = Path(__file__).resolve().parents[2]
        sha = (
            subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        pass
    import numpy

    import gancompress
    from gancompress import distributed

    return {
        "gancompress": gancompress.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "git_sha": sha,
        "seed": seed,
        "device": device,
        "threads": torch.get_num_threads(),
        "world_size": distributed.world_size(),
        "argv": sys.argv,
    }
