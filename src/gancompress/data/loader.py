"""An endless, resumable, shardable batch iterator over an in-memory :class:`ImageDataset`.

The training loop counts steps, not epochs, so the loader never stops: each epoch is a fresh permutation from a
``torch.Generator`` seeded with ``seed + epoch``. Its whole state is ``(epoch, position)``, so a resumed run draws
exactly the batches the interrupted run would have drawn.

Example:
    >>> from gancompress.data.fake import load_fake
    >>> from gancompress.config import DataCfg
    >>> loader = InfiniteLoader(load_fake(DataCfg(name="fake", image_size=8), "test"), batch_size=32, seed=1)
    >>> batch = next(loader)
    >>> tuple(batch["real"].shape), sorted(batch)
    ((32, 1, 8, 8), ['index', 'label', 'real'])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from gancompress.data.datasets import ImageDataset
from gancompress.errors import UserError


class InfiniteLoader:
    """Yields ``{"real", "label" (if labeled), "index", extras…}`` batches on ``device`` forever.

    With ``world_size > 1`` every rank shuffles with the same seed and takes the strided shard
    ``perm[rank::world_size]`` of each epoch's permutation (``DistributedSampler`` semantics: the permutation is
    padded by wrapping around so that all ranks see the same number of samples and stay in lockstep).

    Args:
        dataset: the data.
        batch_size: samples per batch (per rank).
        seed: epoch ``e`` is shuffled with seed ``seed + e``.
        device: where batches are placed.
        drop_last: skip the incomplete last batch of each epoch (otherwise it is yielded smaller).
        rank: this process's rank.
        world_size: number of processes sharing the data.

    Raises:
        UserError: bad ranks / batch size, or a shard smaller than one batch.
    """

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        *,
        seed: int = 0,
        device: torch.device | str = "cpu",
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise UserError(f"invalid rank {rank} for world_size {world_size}")
        if len(dataset) == 0:
            raise UserError(f"dataset {dataset.name!r} ({dataset.split}) is empty")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.device = torch.device(device)
        self.drop_last = bool(drop_last)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.shard_size = -(-len(dataset) // self.world_size)  # ceil: padded like DistributedSampler
        if self.batch_size > self.shard_size:
            per_rank = f" ({self.shard_size} per rank with world_size {self.world_size})" if world_size > 1 else ""
            raise UserError(
                f"dataset {dataset.name!r} ({dataset.split}) is too small for batch size {batch_size}: "
                f"it has {len(dataset)} images{per_rank}; lower the batch size or use more data"
            )
        self.epoch = 0
        self.position = 0
        self._shard: torch.Tensor | None = None
        self._shard_epoch = -1

    @property
    def batches_per_epoch(self) -> int:
        """Batches this rank yields per epoch."""
        full, rest = divmod(self.shard_size, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def epoch_indices(self, epoch: int) -> torch.Tensor:
        """Dataset indices this rank visits in ``epoch``, in order."""
        n = len(self.dataset)
        g = torch.Generator().manual_seed(self.seed + epoch)
        perm = torch.randperm(n, generator=g)
        total = self.shard_size * self.world_size
        if total > n:
            perm = torch.cat([perm, perm[: total - n]])
        return perm[self.rank : total : self.world_size]

    def _current_shard(self) -> torch.Tensor:
        if self._shard is None or self._shard_epoch != self.epoch:
            self._shard = self.epoch_indices(self.epoch)
            self._shard_epoch = self.epoch
        return self._shard

    def next_batch(self) -> dict[str, torch.Tensor]:
        """Return the next batch and advance the state."""
        remaining = self.shard_size - self.position
        if remaining <= 0 or (self.drop_last and remaining < self.batch_size):
            self.epoch += 1
            self.position = 0
        shard = self._current_shard()
        idx = shard[self.position : self.position + self.batch_size]
        self.position += len(idx)
        batch = {"real": self.dataset.images[idx].to(self.device), "index": idx.to(self.device)}
        if self.dataset.labels is not None:
            batch["label"] = self.dataset.labels[idx].to(self.device)
        for key, value in self.dataset.extras.items():  # paired data, e.g. pix2pix's "source" edge maps
            batch[key] = value[idx].to(self.device)
        return batch

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        return self.next_batch()

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "position"}``: enough to continue with exactly the same next batch."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (same dataset, batch size, seed and sharding assumed)."""
        try:
            epoch, position = int(state["epoch"]), int(state["position"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"invalid loader state {dict(state)!r}; expected integer 'epoch' and 'position'") from None
        if epoch < 0 or not 0 <= position <= self.shard_size:
            raise UserError(f"loader state out of range: epoch {epoch}, position {position} (shard {self.shard_size})")
        self.epoch, self.position = epoch, position
