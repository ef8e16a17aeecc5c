"""Packed sparse export for element / N:M sparsity: a bitmask plus the kept values instead of dense weights.

Masking saves nothing on disk: a 50 %-sparse dense checkpoint is as large as the dense one (plus its masks). Element
sparsity's real saving is storage (DESIGN.md "Speed and scale"): for every masked weight (a state-dict key ``w`` with a
matching ``w_mask`` = ``<layer>.weight_mask``) the packed file holds

- ``<w>.__bits``: the mask as bits, 8 per byte (``numpy.packbits``, little bit order, flattened C order);
- ``<w>.__values``: the kept values, 1-D, in the weight's dtype;
- ``<w>.__exc_idx`` / ``<w>.__exc_val`` only if some pruned entry is not bit-exactly +0.0 (a −0.0 left by ``w * 0``,
  or a weight edited after masking), so unpacking is bit-identical for ANY state;

and every other tensor as is. The mask itself is not stored (it IS the bitmask). At fp32 and 50 % sparsity that is
4 B × 0.5 + 1/8 B ≈ 0.53 of the dense bytes per weight. Shapes, dtypes and the key order are in a JSON string in the
safetensors metadata (key ``gancompress_packed``).

Example:
    >>> from torch import nn
    >>> from gancompress.pruning import MaskSet
    >>> layer = nn.Linear(64, 64)
    >>> _ = MaskSet.attach(layer).update(0.5)
    >>> tensors, meta = pack_state_dict(layer.state_dict())
    >>> sorted(tensors)
    ['bias', 'weight.__bits', 'weight.__values']
    >>> all(torch.equal(a, b) for a, b in zip(unpack_state_dict(tensors, meta).values(), layer.state_dict().values()))
    True
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from torch import Tensor, nn

from gancompress.errors import CorruptCheckpointError
from gancompress.pruning.masks import MASK_BUFFER_NAMES

PACKED_FORMAT = "gancompress-packed/1"
META_KEY = "gancompress_packed"
_BITS, _VALUES, _EXC_IDX, _EXC_VAL = ".__bits", ".__values", ".__exc_idx", ".__exc_val"


def _dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise CorruptCheckpointError(f"corrupt packed checkpoint: unknown dtype {name!r}")
    return dtype


def _nonzero_bits(t: Tensor) -> Tensor:
    """Per element (flattened): True where its bit pattern is not all zeros (so −0.0 counts, +0.0 does not)."""
    flat = t.detach().reshape(-1).contiguous()
    return flat.view(torch.uint8).reshape(flat.numel(), flat.element_size()).ne(0).any(dim=1)


def _mask_key(key: str) -> str:
    return key + "_mask"  # "<layer>.weight" → "<layer>.weight_mask" (MASK_NAME)


def pack_state_dict(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Replace every masked weight + its 0/1 mask by a bitmask and the kept values (module docstring).

    A mask that is not exactly 0/1 (bitwise: 0.0 or 1.0 in its dtype) or not of its weight's shape is left unpacked.

    Args:
        state: A state dict (e.g. ``g_comp.state_dict()``) with ``<layer>.weight_mask`` buffers.

    Returns:
        ``(tensors, meta)``: safetensors-ready CPU tensors and the JSON-able description needed to unpack them.

    Example:
        >>> tensors, meta = pack_state_dict(g_comp.state_dict())  # doctest: +SKIP
    """
    tensors: dict[str, Tensor] = {}
    packed: dict[str, dict[str, Any]] = {}
    skip: set[str] = set()
    for key, w in state.items():
        mask = state.get(_mask_key(key)) if key.rpartition(".")[2] == "weight" else None
        if mask is None or mask.shape != w.shape:
            continue
        flat_mask = mask.detach().reshape(-1).cpu().contiguous()
        keep = flat_mask != 0
        if not torch.equal(flat_mask.view(torch.uint8), keep.to(mask.dtype).view(torch.uint8)):
            continue  # not a bitwise 0/1 mask: store both tensors as they are
        flat = w.detach().reshape(-1).cpu().contiguous()
        bits = np.packbits(keep.numpy(), bitorder="little")
        tensors[key + _BITS] = torch.from_numpy(bits)
        tensors[key + _VALUES] = flat[keep].clone()
        exc = (~keep & _nonzero_bits(flat)).nonzero().flatten()
        if exc.numel():
            tensors[key + _EXC_IDX], tensors[key + _EXC_VAL] = exc, flat[exc].clone()
        packed[key] = {"shape": list(w.shape), "dtype": str(w.dtype), "mask_dtype": str(mask.dtype)}
        skip.add(_mask_key(key))
    for key, t in state.items():
        if key not in packed and key not in skip:
            tensors[key] = t.detach().cpu().contiguous()
    return tensors, {"format": PACKED_FORMAT, "keys": list(state), "packed": packed}


def unpack_state_dict(tensors: Mapping[str, Tensor], meta: Mapping[str, Any]) -> dict[str, Tensor]:
    """Inverse of :func:`pack_state_dict`: the original state, bit-identical, ``weight_mask`` buffers included.

    Raises:
        CorruptCheckpointError: ``meta`` and ``tensors`` do not describe a valid packed state.

    Example:
        >>> state = unpack_state_dict(*pack_state_dict(g_comp.state_dict()))  # doctest: +SKIP
    """
    try:
        if meta.get("format") != PACKED_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {PACKED_FORMAT!r}")
        state: dict[str, Tensor] = {}
        packed = meta["packed"]
        for key, info in packed.items():
            shape = [int(s) for s in info["shape"]]
            numel = int(np.prod(shape))
            bits = tensors[key + _BITS]
            if bits.dtype != torch.uint8 or bits.numel() != (numel + 7) // 8:
                raise ValueError(f"{key}: bitmask of {bits.numel()} bytes for {numel} entries")
            keep = torch.from_numpy(np.unpackbits(bits.numpy(), count=numel, bitorder="little").astype(bool))
            values = tensors[key + _VALUES]
            if values.numel() != int(keep.sum()) or values.dtype != _dtype(info["dtype"]):
                raise ValueError(f"{key}: {values.numel()} {values.dtype} values for {int(keep.sum())} kept entries")
            flat = torch.zeros(numel, dtype=values.dtype)
            flat[keep] = values.reshape(-1)
            if key + _EXC_IDX in tensors:
                flat[tensors[key + _EXC_IDX].long()] = tensors[key + _EXC_VAL]
            state[key] = flat.reshape(shape)
            state[_mask_key(key)] = keep.to(_dtype(info["mask_dtype"])).reshape(shape)
        for key, t in tensors.items():
            if not key.endswith((_BITS, _VALUES, _EXC_IDX, _EXC_VAL)):
                state[key] = t
        missing = [k for k in meta["keys"] if k not in state]
        if missing:
            raise ValueError(f"tensor {missing[0]!r} missing")
        return {k: state[k] for k in meta["keys"]}
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as exc:
        raise CorruptCheckpointError(f"corrupt packed checkpoint: {exc}") from None


def save_packed(module: nn.Module | Mapping[str, Tensor], path: str | Path) -> Path:
    """Write ``module``'s state dict packed into one safetensors file (meta JSON in its metadata), atomically.

    The module's ``arch_spec`` (if any) is recorded too, so ``create_model`` can rebuild it.

    Example:
        >>> save_packed(g_comp, "runs/comp/generator.packed.safetensors")  # doctest: +SKIP
    """
    from gancompress.io import FORMAT, save_tensors

    state = module.state_dict() if isinstance(module, nn.Module) else dict(module)
    tensors, meta = pack_state_dict(state)
    if isinstance(module, nn.Module) and getattr(module, "arch_spec", None):
        meta["arch_spec"] = module.arch_spec
    text = json.dumps(meta, separators=(",", ":"))
    return save_tensors(tensors, path, metadata={"format": FORMAT, META_KEY: text})


def read_packed_meta(path: str | Path) -> dict[str, Any]:
    """The JSON meta of a packed file (shapes, dtypes, key order, ``arch_spec``)."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            text = (fh.metadata() or {}).get(META_KEY)
    except Exception as exc:  # safetensors raises several types for truncated / foreign files
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: {exc}") from None
    if text is None:
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: not a packed gancompress file (no {META_KEY!r})")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: bad packed metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: bad packed metadata")
    return meta


def load_packed(path: str | Path) -> dict[str, Tensor]:
    """Read a file written by :func:`save_packed` back into the original (bit-identical) state dict.

    Raises:
        CorruptCheckpointError: Truncated / foreign / inconsistent file ("corrupt checkpoint <path>: …").

    Example:
        >>> load_state_dict_checked(create_model(**spec), load_packed(path), path)  # doctest: +SKIP
    """
    from gancompress.io import load_tensors

    tensors = load_tensors(path)  # truncated or non-safetensors → CorruptCheckpointError
    meta = read_packed_meta(path)
    try:
        return unpack_state_dict(tensors, meta)
    except CorruptCheckpointError as exc:
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: {str(exc).removeprefix('corrupt ')}") from None


def packed_size_ratio(module: nn.Module) -> float:
    """Packed file bytes / dense safetensors bytes, both measured on real files in a temp dir.

    # DECISION: the dense baseline is the state dict WITHOUT mask buffers — what the unpruned model costs to store;
    # comparing against dense-plus-masks would flatter the packed format by ~2×.

    Example:
        >>> packed_size_ratio(g_comp)  # element 50 %  # doctest: +SKIP
        0.53
    """
    from gancompress.io import save_tensors

    state = module.state_dict()
    dense = {k: v for k, v in state.items() if k.rpartition(".")[2] not in MASK_BUFFER_NAMES}
    with tempfile.TemporaryDirectory() as tmp:
        dense_path = save_tensors(dense, Path(tmp) / "dense.safetensors")
        packed_path = save_packed(module, Path(tmp) / "packed.safetensors")
        return packed_path.stat().st_size / dense_path.stat().st_size


__all__ = [
    "PACKED_FORMAT",
    "load_packed",
    "pack_state_dict",
    "packed_size_ratio",
    "read_packed_meta",
    "save_packed",
    "unpack_state_dict",
]
