"""The IDX file format (MNIST's): a parser for gzip-compressed or plain ``.idx*-ubyte`` files.

An IDX file is a 4-byte magic number (two zero bytes, a data-type byte, the number of dimensions), one big-endian
uint32 per dimension, then the raw big-endian payload. :func:`read_idx` validates every part of that header against the
payload and raises a :class:`~gancompress.errors.UserError` naming the file on any mismatch, so a truncated download
fails with a clear message instead of a reshape error.

It lives apart from ``datasets.py`` because it is a self-contained file-format reader with no knowledge of datasets:
``datasets.load_fashion_mnist`` (and any MNIST-format directory passed via ``--data-dir``) uses it, and
``gancompress.data.datasets.read_idx`` remains importable for existing callers.

Example:
    >>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape  # doctest: +SKIP
    (10000,)
"""

from __future__ import annotations

import functools
import gzip
import zlib
from pathlib import Path

import numpy as np

from gancompress.errors import UserError

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (the MNIST format), gzip-compressed or plain; decoded arrays are cached per file.

    Args:
        path: the file; compression is detected from its content, not its name.

    Returns:
        A read-only array with the header's shape and dtype (``uint8`` for MNIST images and labels).

    Raises:
        UserError: ``"corrupt IDX file <path>: ..."`` for a bad magic number, dtype, dimension count or size.

    Example:
        >>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape  # doctest: +SKIP
        (10000,)
    """
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError as e:
        raise UserError(f"cannot read IDX file {path}: {e.strerror or e}") from None
    return _read_idx_cached(str(p), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    del mtime_ns, size  # only part of the cache key: a rewritten file is read again
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"corrupt IDX file {path}: cannot decompress ({e})") from None
    if len(raw) < 4:
        raise UserError(f"corrupt IDX file {path}: only {len(raw)} bytes, too short for a header")
    if raw[0] != 0 or raw[1] != 0:
        raise UserError(f"corrupt IDX file {path}: bad magic number 0x{raw[:4].hex()} (expected 0x000008NN)")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code not in _IDX_DTYPES:
        raise UserError(f"corrupt IDX file {path}: unknown data type byte 0x{dtype_code:02x}")
    if ndim < 1:
        raise UserError(f"corrupt IDX file {path}: zero dimensions in header")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"corrupt IDX file {path}: truncated header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[dtype_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise UserError(
            f"corrupt IDX file {path}: payload is {len(raw) - header} bytes, header {shape} needs {expected}"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    arr = arr.astype(dtype.newbyteorder("="), copy=False)
    arr.flags.writeable = False  # shared by every caller through the cache
    return arr
