"""Multi-process training under ``torchrun``: process group, rank-0-only writing, gradient averaging, mask agreement.

``torchrun --nproc_per_node=N -m gancompress compress …`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and the
rendezvous address; :func:`session` turns that into a process group (gloo on CPU, nccl on CUDA). With
``WORLD_SIZE`` unset or 1 nothing is initialised and every helper here is a no-op, so a 1-process run is exactly the
plain run. ``train.batch_size`` is per process: the global batch is ``batch_size × world_size``.

DECISION (no ``DistributedDataParallel`` wrapper): the loop averages gradients with explicit all-reduces instead of
wrapping g_comp / D in DDP, because
  1. methods call g_comp and D several times per step — D on real and fake batches before one backward, D on
     g_orig's and g_comp's outputs in Eq. 7–9 with D's parameters frozen by toggling ``requires_grad`` — while DDP's
     reducer expects one forward per backward over a fixed set of trainable parameters;
  2. WGAN-GP's gradient penalty needs a double backward, which DDP does not support;
  3. methods, :class:`~gancompress.pruning.MaskSet` and the hooks hold the plain modules; a wrapper would rename every
     state_dict key (``module.``) and add an indirection to each method.
The arithmetic is DDP's: parameters and buffers are broadcast from rank 0 at the start, gradients are averaged over
ranks before the optimizer step (one flat all-reduce per dtype), and non-mask buffers (BatchNorm running statistics)
are broadcast from rank 0 after each step (DDP's ``broadcast_buffers``). Mask buffers are *not* broadcast: they are
recomputed on every rank from identical weights and then checked to be identical (:func:`check_identical_masks`).
What we give up is DDP's overlap of communication with backward — immaterial at these model sizes
(``benchmarks/ddp_throughput.py``).

Example:
    >>> from gancompress.training import distributed
    >>> distributed.is_main(), distributed.world_size()  # no process group: a plain run
    (True, 1)
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from gancompress.errors import DistributedError, UserError
from gancompress.training.seeding import seed_everything

log = logging.getLogger(__name__)
T = TypeVar("T")

#: buffers that are pruning masks (pruning/masks.py); checked for agreement, never broadcast
MASK_BUFFER_SUFFIXES = ("weight_mask", "bias_mask", "channel_mask")
#: offset between the noise seeds of consecutive ranks (rank 0 keeps the run's seed)
RANK_SEED_STRIDE = 1_000_003


# ----------------------------------------------------------------------------------------------------- who am I
def is_distributed() -> bool:
    """Whether a process group with more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0: the only process that logs and writes files."""
    return rank() == 0


def shard() -> dict[str, int]:
    """``{"rank", "world_size"}`` for :class:`gancompress.data.InfiniteLoader` (DistributedSampler semantics)."""
    return {"rank": rank(), "world_size": world_size()}


# ------------------------------------------------------------------------------------------- init / teardown
def init(device: str = "cpu") -> str:
    """Join the process group described by torchrun's environment; returns the device this rank should use.

    No-op (returns ``device``) when ``WORLD_SIZE`` is unset or 1. Backend: nccl for CUDA, gloo otherwise; each CUDA
    rank uses ``cuda:LOCAL_RANK``. Ranks > 0 log warnings only.

    Raises:
        UserError: torch.distributed or the needed backend is unavailable.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or is_distributed():
        return device
    if not dist.is_available():
        raise UserError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed; run without torchrun")
    cuda = device.startswith("cuda")
    backend = "nccl" if cuda else "gloo"
    if not (dist.is_nccl_available() if cuda else dist.is_gloo_available()):
        raise UserError(f"the {backend} backend is not available in this PyTorch build; use --device cpu (gloo)")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, init_method="env://")
    if dist.get_rank() != 0:
        logging.getLogger("gancompress").setLevel(logging.WARNING)
    log.info("distributed: %d processes, backend %s, rank 0 on %s", dist.get_world_size(), backend, device)
    return device


def teardown() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def session(device: str = "cpu") -> Iterator[str]:
    """``with session(cfg.device) as device:`` — :func:`init` on entry, :func:`teardown` on exit."""
    owner = not (dist.is_available() and dist.is_initialized())  # an enclosing session keeps its group
    device = init(device)
    try:
        yield device
    finally:
        if owner:
            teardown()


# ---------------------------------------------------------------------------------------------- collectives
def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if is_distributed():
        dist.barrier()


def on_main(fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0 only and hand its (picklable) result to every rank.

    A :class:`UserError` raised on rank 0 is re-raised on every rank with the same message, so all ranks exit with
    the same one-line error instead of waiting for a rank that has already left.
    """
    if not is_distributed():
        return fn()
    box: list[Any] = [None]
    if is_main():
        try:
            box[0] = ("ok", fn())
        except UserError as exc:
            box[0] = ("error", str(exc))
    dist.broadcast_object_list(box, src=0)
    status, payload = box[0]
    if status == "error":
        raise UserError(payload)
    return payload


def _flat(tensors: list[torch.Tensor], op: Callable[[torch.Tensor], None]) -> None:
    """Apply the in-place collective ``op`` to ``tensors`` as one flat buffer per (dtype, device)."""
    groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for group in groups.values():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        op(flat)
        offset = 0
        for t in group:
            n = t.numel()
            t.detach().copy_(flat[offset : offset + n].view_as(t))
            offset += n


def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """Replace every existing ``.grad`` by its mean over ranks (what DDP's reducer computes)."""
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if grads:
        size = world_size()

        def op(flat: torch.Tensor) -> None:
            dist.all_reduce(flat)
            flat.div_(size)

        _flat(grads, op)


def _non_mask_buffers(module: nn.Module) -> list[torch.Tensor]:
    return [b for name, b in module.named_buffers() if not name.endswith(MASK_BUFFER_SUFFIXES)]


def broadcast_module(module: nn.Module | None, *, parameters: bool = True) -> None:
    """Copy rank 0's parameters (optional) and non-mask buffers to every rank."""
    if module is None or not is_distributed():
        return
    tensors = [p.data for p in module.parameters()] if parameters else []
    tensors += _non_mask_buffers(module)
    if tensors:
        _flat(tensors, lambda flat: dist.broadcast(flat, src=0))


def all_true(flag: bool) -> bool:
    """Logical AND of ``flag`` over ranks (every rank learns whether any rank saw a problem)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def mean_scalars(row: dict[str, float]) -> dict[str, float]:
    """Average logged scalars over ranks (each rank's losses are on its own shard)."""
    if not is_distributed():
        return row
    rows: list[Any] = [None] * world_size()
    dist.all_gather_object(rows, row)
    keys = dict.fromkeys(k for r in rows for k in r)
    return {k: sum(r[k] for r in rows if k in r) / sum(1 for r in rows if k in r) for k in keys}


# ------------------------------------------------------------------------------------------------------ masks
def mask_digest(module: nn.Module) -> str:
    """SHA-256 (hex, 16 chars) over every mask buffer of ``module``, in ``named_buffers`` order."""
    h = hashlib.sha256()
    for name, buf in module.named_buffers():
        if name.endswith(MASK_BUFFER_SUFFIXES):
            h.update(name.encode())
            h.update(buf.detach().to("cpu", torch.uint8).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def check_identical_masks(module: nn.Module, *, step: int, what: str = "g_comp") -> str:
    """Compare ``module``'s mask digest on every rank with rank 0's; returns the digest.

    Raises:
        DistributedError: a rank's masks differ from rank 0's (weights diverged, or a non-deterministic criterion).
    """
    digest = mask_digest(module)
    if not is_distributed():
        return digest
    digests: list[Any] = [None] * world_size()
    dist.all_gather_object(digests, digest)
    bad = [r for r, d in enumerate(digests) if d != digests[0]]
    if bad:
        raise DistributedError(
            f"{what} masks differ across ranks at step {step}: rank 0 has {digests[0]}, ranks {bad} have "
            f"{[digests[r] for r in bad]}; the weights must be identical on every rank when masks are computed"
        )
    log.info("step %d: %s masks identical on %d ranks (sha256 %s)", step, what, len(digests), digest)
    return digest


def mask_generator(step: int) -> torch.Generator | None:
    """A generator seeded by ``step`` for stochastic criteria (``random``) so every rank draws the same masks.

    ``None`` in a 1-process run (the global RNG, as without torchrun).
    """
    return torch.Generator().manual_seed(RANK_SEED_STRIDE + step) if is_distributed() else None


# -------------------------------------------------------------------------------------------------------- RNG
def seed_rank() -> None:
    """Give ranks > 0 their own noise stream: seed ``initial_seed + rank × 1000003`` (rank 0 keeps its stream)."""
    if is_distributed() and rank() > 0:
        seed_everything((torch.initial_seed() + RANK_SEED_STRIDE * rank()) % 2**63)


def _rng_tensor() -> torch.Tensor:
    state = torch.get_rng_state()
    if dist.get_backend() == "nccl":
        state = torch.cat([state, torch.cuda.get_rng_state()])
    return state


def gather_rng_states() -> dict[str, torch.Tensor]:
    """Collective: every rank's torch RNG state, as ``{"rng.rank<r>": state}`` for ranks > 0 (on every rank)."""
    if not is_distributed():
        return {}
    mine = _rng_tensor().to(_comm_device())
    states = [torch.empty_like(mine) for _ in range(world_size())]
    dist.all_gather(states, mine)
    return {f"rng.rank{r}": s.cpu() for r, s in enumerate(states) if r > 0}


def restore_rank_rng(tensors: dict[str, torch.Tensor], saved_world_size: int) -> None:
    """After the common RNG restore, put this rank's own stream back (ranks > 0).

    Raises:
        UserError: the checkpoint was written by a run with a different number of processes.
    """
    if saved_world_size != world_size():
        raise UserError(
            f"the checkpoint was written by a {saved_world_size}-process run but this run has {world_size()}; "
            f"resume with the same number of processes (torchrun --nproc_per_node / --nnodes)"
        )
    if rank() == 0:
        return
    state = tensors[f"rng.rank{rank()}"]
    n_cpu = torch.get_rng_state().numel()
    torch.set_rng_state(state[:n_cpu].contiguous())
    if state.numel() > n_cpu:
        torch.cuda.set_rng_state(state[n_cpu:].contiguous())
