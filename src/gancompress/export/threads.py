"""PyTorch's intra-op thread count, set for a block and restored afterwards.

Timing (export/latency.py, export/layer_latency.py) runs at the thread count a user asked for, and the domain
extractor trains on one thread so its weights do not depend on the caller's count (docs/metrics.md "Domain extractor
reproducibility"); each must hand the caller's setting back even when the block raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``torch.set_num_threads(threads)`` (``None``: unchanged); restore the previous count.

    Example:
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
    """
    prev = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield prev
    finally:
        torch.set_num_threads(prev)
