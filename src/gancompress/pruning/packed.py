"""Packed sparse export for element / N:M sparsity: a bitmask plus the kept values instead of dense weights.

Masking saves nothing on disk: a 50 %-sparse dense checkpoint is as large as the dense one (plus its masks). Element
sparsity's real saving is storage (docs/architecture.md "Speed and scale"): for every masked weight (a state-dict key
``w`` with a matching ``w_mask`` = ``<layer>.weight_mask``) the packed file holds

- ``<w>.__bits``: the mask as bits, 8 per byte (``numpy.packbits``, little bit order, flattened C order);
- ``<w>.__values``: the kept values, 1-D, in the weight's dtype;
- ``<w>.__exc_idx`` / ``<w>.__exc_val`` only if some pruned entry is not bit-exactly +0.0 (a −0.0 left by ``w * 0``,
  or a weight edited after masking), so unpacking is bit-identical for ANY state;

and every other tensor as is. The mask itself is not stored (it IS the bitmask). At fp32 and 50 % sparsity that is
4 B × 0.5 + 1/8 B ≈ 0.53 of the dense bytes per weight. Shapes, dtypes and the key order are in a JSON string in the
safetensors metadata (key ``gancompress_packed``).

``pack_state_dict(state, derive=True)`` (what ``checkpoint.save_module`` writes) may instead keep a weight *derived*:
the dense weight as is under its own key and no mask at all, the mask being the weight's non-zeros (bit pattern not
+0.0) except at the indices in ``<w>.__flip`` (a kept entry that is exactly +0.0, a pruned one that is not). Per weight
it takes whichever of the two is smaller on disk, so a file is never larger than the dense weights: packed wins above a
few % sparsity, derived (≈ the dense bytes) below. The derived weights are listed in ``meta["derived"]``.

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
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from torch import Tensor, nn

from gancompress.errors import CorruptCheckpointError
from gancompress.files import FORMAT, load_tensors, save_tensors
from gancompress.pruning.masks import MASK_BUFFER_NAMES

PACKED_FORMAT = "gancompress-packed/1"
META_KEY = "gancompress_packed"
_BITS, _VALUES, _EXC_IDX, _EXC_VAL, _FLIP = ".__bits", ".__values", ".__exc_idx", ".__exc_val", ".__flip"
_SUFFIXES = (_BITS, _VALUES, _EXC_IDX, _EXC_VAL, _FLIP)
# Upper bound of the bytes a file pays once when it holds any packed weight: the metadata entry's fixed part
# ('"gancompress_packed":"{\"format\":…,\"packed\":{}}"', ~75 B) plus up to 7 B of header padding.
_PACKED_FIXED_BYTES = 128


def _dtype(name: str, key: str) -> torch.dtype:
    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"{key}: unknown dtype {name!r}")
    return dtype


def _nonzero_bits(t: Tensor) -> Tensor:
    """Per element (flattened): True where its bit pattern is not all zeros (so −0.0 counts, +0.0 does not)."""
    flat = t.detach().reshape(-1).contiguous()
    return flat.view(torch.uint8).reshape(flat.numel(), flat.element_size()).ne(0).any(dim=1)


def _mask_key(key: str) -> str:
    return key + "_mask"  # "<layer>.weight" → "<layer>.weight_mask" (MASK_NAME)


def _entry_bytes(key: str, shape: list[int], *, upper: bool) -> int:
    """Bytes of one tensor's entry in the safetensors header (``"key":{"dtype":…,"shape":[…],"data_offsets":[a,b]},``),
    bounded above (20-digit offsets, 4-char dtype) or below (1-digit offsets, 2-char dtype, no trailing comma)."""
    fixed = len(json.dumps(key, ensure_ascii=False).encode()) + len(json.dumps(shape, separators=(",", ":"))) + 41
    return fixed + (49 if upper else 4)


def _packed_meta_bytes(key: str, info: dict[str, Any]) -> int:
    """Bytes of ``key``'s entry in the packed metadata once safetensors escapes it into the header (``"`` → ``\\"``)."""
    text = json.dumps({key: info}, separators=(",", ":"))[1:-1] + ","
    return len(json.dumps(text)) - 2


def _choose_packed(key: str, w: Tensor, keep: Tensor, n_exc: int, n_flip: int, info: dict[str, Any]) -> bool:
    """Whether the packed form of ``w`` is certainly smaller on disk than the derived (dense) one.

    Packed's overhead is bounded above and derived's below, so every weight packed saves bytes and the file never
    exceeds the dense weights (when no flips are needed).
    """
    esize, numel, kept = w.element_size(), w.numel(), int(keep.sum())
    packed = (numel + 7) // 8 + kept * esize + _entry_bytes(key + _BITS, [(numel + 7) // 8], upper=True)
    packed += _entry_bytes(key + _VALUES, [kept], upper=True) + _packed_meta_bytes(key, info) + _PACKED_FIXED_BYTES
    if n_exc:
        packed += n_exc * (8 + esize) + 2 * _entry_bytes(key + _EXC_IDX, [n_exc], upper=True)
    derived = numel * esize + _entry_bytes(key, list(w.shape), upper=False)
    if n_flip:
        derived += n_flip * 8 + _entry_bytes(key + _FLIP, [n_flip], upper=False)
    return packed < derived


def pack_state_dict(state: Mapping[str, Tensor], *, derive: bool = False) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Replace every masked weight + its 0/1 mask by a bitmask and the kept values (module docstring).

    A mask that is not exactly 0/1 (bitwise: 0.0 or 1.0 in its dtype) or not of its weight's shape is left unpacked.

    Args:
        state: A state dict (e.g. ``g_comp.state_dict()``) with ``<layer>.weight_mask`` buffers.
        derive: Per weight, keep the smaller of the packed form and the derived one (the dense weight, its mask
            recomputed from its non-zeros on unpacking; only for a mask of the weight's dtype). Listed in
            ``meta["derived"]``.

    Returns:
        ``(tensors, meta)``: safetensors-ready CPU tensors and the JSON-able description needed to unpack them.

    Example:
        >>> tensors, meta = pack_state_dict(g_comp.state_dict())  # doctest: +SKIP
    """
    tensors: dict[str, Tensor] = {}
    packed: dict[str, dict[str, Any]] = {}
    derived: list[str] = []
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
        nonzero = _nonzero_bits(flat)
        exc = (~keep & nonzero).nonzero().flatten()
        info = {"shape": list(w.shape), "dtype": str(w.dtype), "mask_dtype": str(mask.dtype)}
        skip.add(_mask_key(key))
        if derive and mask.dtype == w.dtype:
            flip = (keep != nonzero).nonzero().flatten()
            if not _choose_packed(key, w, keep, exc.numel(), flip.numel(), info):
                tensors[key] = flat.reshape(w.shape)
                if flip.numel():
                    tensors[key + _FLIP] = flip
                derived.append(key)
                continue
        bits = np.packbits(keep.numpy(), bitorder="little")
        tensors[key + _BITS] = torch.from_numpy(bits)
        tensors[key + _VALUES] = flat[keep].clone()
        if exc.numel():
            tensors[key + _EXC_IDX], tensors[key + _EXC_VAL] = exc, flat[exc].clone()
        packed[key] = info
    for key, t in state.items():
        if key not in packed and key not in skip and key not in tensors:
            tensors[key] = t.detach().cpu().contiguous()
    meta: dict[str, Any] = {"format": PACKED_FORMAT, "keys": list(state), "packed": packed}
    if derive:
        meta["derived"] = derived
    return tensors, meta


def _indices(tensors: Mapping[str, Tensor], name: str, numel: int) -> Tensor:
    """``tensors[name]`` as validated flat indices into ``numel`` entries (a lying file must not index out of range:
    a negative index would silently write from the end)."""
    idx = tensors[name]
    if idx.dtype not in (torch.int32, torch.int64) or idx.dim() != 1:
        raise ValueError(f"{name}: {idx.dtype} of shape {tuple(idx.shape)}, expected 1-D integer indices")
    idx = idx.long()
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= numel):
        raise ValueError(f"{name}: index out of range for {numel} entries")
    return idx


def _unpack_one(tensors: Mapping[str, Tensor], key: str, info: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
    """(weight, mask) of one packed weight, every count in the metadata checked against the tensors."""
    shape = info["shape"]
    if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ValueError(f"{key}: bad shape {shape!r}")
    numel = math.prod(shape)  # Python ints: a huge lying shape cannot overflow to a small one
    bits = tensors[key + _BITS]
    if bits.dtype != torch.uint8 or bits.numel() != (numel + 7) // 8:
        raise ValueError(f"{key}: bitmask of {bits.numel()} {bits.dtype} bytes for {numel} entries")
    keep = torch.from_numpy(np.unpackbits(bits.reshape(-1).numpy(), count=numel, bitorder="little").astype(bool))
    values, dtype = tensors[key + _VALUES], _dtype(info["dtype"], key)
    if values.numel() != int(keep.sum()) or values.dtype != dtype:
        raise ValueError(f"{key}: {values.numel()} {values.dtype} values for {int(keep.sum())} kept {dtype} entries")
    flat = torch.zeros(numel, dtype=dtype)
    flat[keep] = values.reshape(-1)
    if key + _EXC_IDX in tensors or key + _EXC_VAL in tensors:
        idx, exc = _indices(tensors, key + _EXC_IDX, numel), tensors[key + _EXC_VAL]
        if exc.dtype != dtype or exc.numel() != idx.numel():
            raise ValueError(f"{key}: {exc.numel()} {exc.dtype} exception values for {idx.numel()} indices")
        flat[idx] = exc.reshape(-1)
    return flat.reshape(shape), keep.to(_dtype(info["mask_dtype"], key)).reshape(shape)


def _derive_mask(tensors: Mapping[str, Tensor], key: str) -> Tensor:
    """The mask of a derived weight: its non-zeros (bit pattern), flipped at ``<w>.__flip``, in the weight's dtype."""
    w = tensors[key]
    keep = _nonzero_bits(w)
    if key + _FLIP in tensors:
        idx = _indices(tensors, key + _FLIP, keep.numel())
        keep[idx] = ~keep[idx]
    return keep.to(w.dtype).reshape(w.shape)


def unpack_state_dict(tensors: Mapping[str, Tensor], meta: Mapping[str, Any]) -> dict[str, Tensor]:
    """Inverse of :func:`pack_state_dict`: the original state, bit-identical, ``weight_mask`` buffers included.

    ``meta["keys"]`` (the original order) and ``meta["derived"]`` may be absent: ``checkpoint.save_module`` stores
    neither in the file (the module gives the order; its JSON lists the derived weights).

    Raises:
        CorruptCheckpointError: ``meta`` and ``tensors`` do not describe a valid packed state.

    Example:
        >>> state = unpack_state_dict(*pack_state_dict(g_comp.state_dict()))  # doctest: +SKIP
    """
    try:
        if meta.get("format") != PACKED_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {PACKED_FORMAT!r}")
        state: dict[str, Tensor] = {}
        derived = set(meta.get("derived") or [])
        listed = [*meta["packed"], *derived]
        if len(set(listed)) != len(listed):
            raise ValueError("a weight is listed both packed and derived")
        for key in listed:
            if not isinstance(key, str) or _mask_key(key) in tensors:
                raise ValueError(f"{key!r}: its mask is stored too")
        for key, info in meta["packed"].items():
            if key in tensors:
                raise ValueError(f"{key}: stored both packed and as is")
            state[key], state[_mask_key(key)] = _unpack_one(tensors, key, info)
        for key, t in tensors.items():
            if not key.endswith(_SUFFIXES):
                state[key] = t
                if key in derived:
                    state[_mask_key(key)] = _derive_mask(tensors, key)
        missing = [k for k in [*meta.get("keys", []), *derived] if k not in state]
        if missing:
            raise ValueError(f"tensor {missing[0]!r} missing")
        return {k: state[k] for k in meta["keys"]} if "keys" in meta else state
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as exc:
        raise CorruptCheckpointError(f"corrupt packed checkpoint: {exc}") from None


def save_packed(module: nn.Module | Mapping[str, Tensor], path: str | Path) -> Path:
    """Write ``module``'s state dict packed into one safetensors file (meta JSON in its metadata), atomically.

    The module's ``arch_spec`` (if any) is recorded too, so ``create_model`` can rebuild it.

    Example:
        >>> save_packed(g_comp, "runs/comp/generator.packed.safetensors")  # doctest: +SKIP
    """
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
    return parse_packed_meta(text, path)


def parse_packed_meta(text: str, path: str | Path) -> dict[str, Any]:
    """The ``gancompress_packed`` metadata string of ``path`` as a dict ("corrupt checkpoint <path>: …" if not)."""
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: "[[[[…" nested past the parser's stack
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: bad packed metadata ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("packed"), dict):
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: bad packed metadata")
    return meta


def load_packed(path: str | Path) -> dict[str, Tensor]:
    """Read a file written by :func:`save_packed` back into the original (bit-identical) state dict.

    Raises:
        CorruptCheckpointError: Truncated / foreign / inconsistent file ("corrupt checkpoint <path>: …").

    Example:
        >>> load_state_dict_checked(create_model(**spec), load_packed(path), path)  # doctest: +SKIP
    """
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
    "parse_packed_meta",
    "read_packed_meta",
    "save_packed",
    "unpack_state_dict",
]
