"""Checkpoints (safetensors + JSON arch spec, never pickled models) and safe import of .pt files.

Run directories and step checkpoints live in :mod:`gancompress.rundir`; the JSON / safetensors file primitives in
:mod:`gancompress.files`.

A saved module is two files: ``<name>.safetensors`` (its state_dict) and ``<name>.json`` (``{"format", "arch",
"kwargs", "masked_layers", ...}``), enough to rebuild it with :func:`gancompress.models.create_model` and no code from
the file. Since format ``gancompress/2`` the pruning masks are not stored as float tensors (which made a pruned model
twice the dense size): each masked weight is packed (bitmask + kept values, listed in the safetensors metadata) or kept
dense with its mask derived from its non-zeros (listed in the JSON's ``derived_masks``), whichever is smaller
(:mod:`gancompress.pruning.packed`), so the file is no larger than the same model's without masks. (Except by a few
bytes per "exception" — a kept weight that is exactly 0, a pruned one that is not +0.0 — and by filter pruning's
per-channel ``bias_mask`` / ``channel_mask``, which stay stored: out_channels × 4 B per layer.) ``gancompress/1``
files (float masks stored) still load.
"""

from __future__ import annotations

import json
import logging
import pickle
import struct
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancompress.errors import CorruptCheckpointError, UnsafeCheckpointError, UserError
from gancompress.files import read_json, read_safetensors, require_file, save_tensors, write_json
from gancompress.models import create_model_from_spec
from gancompress.pruning import MaskSet
from gancompress.pruning.channel_spec import apply_channel_spec, channel_spec
from gancompress.pruning.mask_buffers import MASK_BUFFER_NAMES
from gancompress.pruning.packed import META_KEY, PACKED_FORMAT, pack_state_dict, parse_packed_meta, unpack_state_dict

log = logging.getLogger(__name__)

# save_module's files, whose masks are packed or derived (module docstring): a version of their own, so that a reader
# can tell them from a plain state dict, and checkpoints keep theirs
MODULE_FORMAT = "gancompress/2"
RESAVE_HINT = (
    "re-save it as a plain state_dict in the original code: torch.save(your_model.state_dict(), 'weights.pt') "
    "(or safetensors.torch.save_file(your_model.state_dict(), 'weights.safetensors'))"
)


def load_saved_tensors(path: str | Path, derived_masks: list[str] | None = None) -> dict[str, torch.Tensor]:
    """The state dict in a safetensors file, decoded: masks of :func:`save_module` / the packed export restored
    bit-identically; a plain state dict (a ``gancompress/1`` file, a user's file) is returned as stored.

    Args:
        path: The ``.safetensors`` file.
        derived_masks: The weights whose mask is derived from their non-zeros (``derived_masks`` of the module's
            JSON). ``None``: read from ``<path stem>.json`` next to a ``gancompress/2`` file if there is one (without
            it such masks are absent: the pruned weights are still exact zeros, but the layers load unmasked).

    Raises:
        CorruptCheckpointError: Truncated / foreign file, or packed metadata that does not match its tensors.
    """
    path = Path(path)
    tensors, metadata = read_safetensors(path)
    if derived_masks is None and metadata.get("format") == MODULE_FORMAT:
        derived_masks = _sidecar_derived_masks(path.with_suffix(".json"))
    if META_KEY not in metadata and not derived_masks:
        return tensors
    meta = parse_packed_meta(metadata[META_KEY], path) if META_KEY in metadata else {"format": PACKED_FORMAT}
    meta = {"packed": {}, **meta, "derived": derived_masks or []}
    try:
        return unpack_state_dict(tensors, meta)
    except CorruptCheckpointError as exc:
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: {str(exc).removeprefix('corrupt ')}") from None


def _derived_masks(meta: Mapping[str, Any], path: Path) -> list[str]:
    """``derived_masks`` of a module JSON (``[]`` for a ``gancompress/1`` file), checked to be a list of names."""
    derived = meta.get("derived_masks", [])
    if not isinstance(derived, list) or not all(isinstance(k, str) for k in derived):
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: 'derived_masks' is not a list of tensor names")
    return derived


def _sidecar_derived_masks(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    meta = read_json(path)
    return _derived_masks(meta, path) if isinstance(meta, dict) else None


# ------------------------------------------------------------------------------------------------ foreign weights
def import_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read user weights: ``.safetensors`` directly, ``.pt/.pth/.bin`` only through PyTorch's restricted loader.

    ``torch.load(weights_only=True)`` cannot execute code; a file that needs full unpickling (a whole pickled model,
    a payload) is refused with a message saying how to re-save it. A ``{"state_dict": {...}}`` wrapper is unwrapped.
    """
    path = Path(path)
    require_file(path, "checkpoint")
    if path.suffix == ".safetensors":  # a run's generator.safetensors too: its masks decoded (load_saved_tensors)
        return load_saved_tensors(path)
    try:
        # torch warns about e.g. the pickle protocol of a hand-made file before refusing it; our own message below
        # says what is wrong and what to do, so its two-line warning would only be noise in front of it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower() or _needs_code(path):
            raise UnsafeCheckpointError(
                f"refused {path}: it needs full unpickling (a pickled model or code), which could run arbitrary code; "
                f"{RESAVE_HINT}"
            ) from None
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: not a readable PyTorch state_dict file") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError, struct.error) as exc:
        raise CorruptCheckpointError(
            f"corrupt checkpoint {path}: not a readable PyTorch state_dict file (truncated, or not a checkpoint: "
            f"{_error_detail(exc)})"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} is not a state_dict (a dict of tensor names to tensors); {RESAVE_HINT}")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def _error_detail(exc: BaseException) -> str:
    """``Type: first sentence`` of a loader error: a bare ``101`` (KeyError) or ``[Errno 22] Invalid argument`` means
    nothing without its type, and PyTorch's zip errors go on for several sentences."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.split(". ")[0].rstrip(".")
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
    """``load_state_dict(strict=True)`` that refuses, naming the first bad tensor, weights that do not fit the model.

    Refused: a missing / unexpected tensor or a shape mismatch (both shapes named); a dtype ``load_state_dict`` would
    cast destructively (integer / bool weights into a floating parameter, floats into an integer buffer such as
    ``num_batches_tracked``); NaN/Inf values; a negative BatchNorm ``running_var``; a pruning mask that is not 0/1.
    Floating → floating (float16 / bfloat16 / float64 into float32) is accepted: a harmless cast.
    """
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
    for name, tensor in own.items():
        _check_tensor(name, state[name], tensor.dtype, source, is_mask=name.rpartition(".")[2] in MASK_BUFFER_NAMES)
    module.load_state_dict(dict(state), strict=True)


def _is_integer(dtype: torch.dtype) -> bool:
    return not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool


def _check_tensor(
    name: str, value: torch.Tensor, model_dtype: torch.dtype, source: str | Path, *, is_mask: bool
) -> None:
    """One tensor of a file against the model's: dtype compatibility, then its values (see load_state_dict_checked)."""
    # load_state_dict copies with a silent cast: integer weights load "fine" (a .long() of small float weights is all
    # zeros), floats in an integer counter are truncated; neither can be what the user meant to load
    if model_dtype.is_floating_point and not value.dtype.is_floating_point:
        raise UserError(
            f"weights in {source}: tensor {name!r} is {_dtype_name(value.dtype)} in the file but "
            f"{_dtype_name(model_dtype)} in the model; save floating-point weights"
        )
    if _is_integer(model_dtype) and not _is_integer(value.dtype):
        raise UserError(
            f"weights in {source}: tensor {name!r} is {_dtype_name(value.dtype)} in the file but "
            f"{_dtype_name(model_dtype)} in the model; it must be an integer tensor"
        )
    if value.dtype.is_floating_point:
        bad = int((~torch.isfinite(value)).sum())
        if bad:  # a diverged or corrupted model: every output it produced would be NaN
            raise UserError(
                f"weights in {source}: tensor {name!r} has {bad} NaN/Inf values; load weights saved before training "
                "diverged"
            )
    if name.endswith("running_var") and value.numel() and bool((value < 0).any()):  # a variance is never negative
        raise UserError(
            f"weights in {source}: tensor {name!r} (a BatchNorm running variance) has negative values "
            f"(min {float(value.min()):g}); the file is corrupt or not from this architecture"
        )
    if is_mask and value.numel() and bool(((value != 0) & (value != 1)).any()):  # any other value rescales weights
        raise UserError(
            f"weights in {source}: pruning mask {name!r} has values other than 0 and 1; the file is corrupt or was "
            "edited"
        )


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# --------------------------------------------------------------------------------------------------- modules
def encode_state(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str], list[str]]:
    """What :func:`save_module` writes for ``state``: (tensors, safetensors metadata, weights whose mask is derived
    from their nonzeros — listed in the JSON spec)."""
    tensors, packing = pack_state_dict(state, derive=True)
    metadata = {"format": MODULE_FORMAT}
    if packing["packed"]:  # no key order (the module has it) and no derived list (the JSON has it): bytes count here
        stored = {"format": packing["format"], "packed": packing["packed"]}
        metadata[META_KEY] = json.dumps(stored, separators=(",", ":"))
    return tensors, metadata, list(packing["derived"])


def saved_size_bytes(module: nn.Module) -> int:
    """Bytes of the ``.safetensors`` :func:`save_module` writes for ``module`` (what a user ships)."""
    import tempfile

    tensors, metadata, _ = encode_state(module.state_dict())
    with tempfile.TemporaryDirectory(prefix="gancompress-size-") as tmp:
        return save_tensors(tensors, Path(tmp) / "m.safetensors", metadata=metadata).stat().st_size


def save_module(module: nn.Module, directory: str | Path, name: str, extra: dict[str, Any] | None = None) -> Path:
    """Save ``module`` as ``<name>.safetensors`` + ``<name>.json`` (arch spec, masked layers, ``extra``).

    Each masked weight is stored packed or with a derived mask, whichever is smaller (module docstring): the
    ``.safetensors`` is no larger than the same model's without masks, and :func:`load_module` restores every tensor
    bit-identically.
    """
    directory = Path(directory)
    spec = getattr(module, "arch_spec", None)
    if spec is None:
        raise UserError(
            f"cannot save {type(module).__name__}: it has no arch_spec; build it with gancompress.models.create_model "
            "or, for your own architecture, set module.arch_spec = {'arch': 'user', 'model': "
            "'path/to/file.py:factory'} naming the --model factory that rebuilds it"
        )
    state = module.state_dict()
    masked = [k.removesuffix(".weight_mask") for k in state if k.endswith(".weight_mask")]
    tensors, metadata, derived = encode_state(state)
    save_tensors(tensors, directory / f"{name}.safetensors", metadata=metadata)
    meta = {"format": MODULE_FORMAT, **spec, "masked_layers": masked, **(extra or {})}
    if derived:
        meta["derived_masks"] = derived
    if getattr(module, "channel_spec", None):  # physically pruned (pruning/physical.py): record the smaller sizes
        meta["channel_spec"] = channel_spec(module)
    write_json(directory / f"{name}.json", meta)
    return directory / f"{name}.safetensors"


def load_module(
    directory: str | Path, name: str, device: str | torch.device = "cpu", *, module: nn.Module | None = None
) -> nn.Module:
    """Rebuild a module saved by :func:`save_module` from its JSON spec and load its tensors (masks included).

    ``module``: a freshly built module to load into instead (a ``--model`` user architecture, ``families/user.py``).
    """
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
        module = create_model_from_spec(meta, directory / f"{name}.json")
    if meta.get("channel_spec"):  # physically pruned: shrink the fresh full-size layers before loading
        if not isinstance(meta["channel_spec"], dict):
            raise CorruptCheckpointError(f"corrupt checkpoint {directory / (name + '.json')}: bad 'channel_spec'")
        apply_channel_spec(module, meta["channel_spec"])
    path = directory / f"{name}.safetensors"
    derived = _derived_masks(meta, directory / f"{name}.json")
    load_state_dict_checked(module, load_saved_tensors(path, derived), path)
    return module.to(device)
