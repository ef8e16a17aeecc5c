"""Run independent reproduction cells in worker processes (``reproduce … --jobs N``).

Each (row, seed) cell of a reproduction is an independent training run, so on a machine with N cores N cells can run
at once, each worker with ``cores // N`` threads (one small GAN does not use two cores well; docs/method.md §7 asks for
≥ 3 seeds, which is where the hours go). Workers are spawned (never forked: a forked process inherits torch's thread
pools and any CUDA context); each builds its own state once with the caller's ``init`` (config, data, cached
evaluator, already-trained teacher) and returns one record per cell. Only the parent records results, so a crash
still loses at most the cells in flight and ``--resume`` picks up the rest.

``init`` and ``work`` must be module-level functions (they are pickled by name); they share state through a global
of their own module (see ``reproduce._worker_init``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

import torch

log = logging.getLogger(__name__)

T = TypeVar("T")


def worker_threads(jobs: int) -> int:
    """Intra-op threads per worker: the machine's cores shared evenly, at least one."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _start(init: Callable[..., None], args: tuple[Any, ...], threads: int, level: int) -> None:
    logging.basicConfig(level=level, format=f"[worker {os.getpid()}] %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(threads)
    _exit_with_parent(os.getppid())
    init(*args)


def _exit_with_parent(parent: int, every: float = 2.0) -> None:
    """A worker whose parent is gone (killed with SIGKILL, no chance to clean up) stops instead of training on as an
    orphan: nothing would record its result, and it would hold the cores the next run needs."""

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _sigterm_to_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so run_pool's cleanup runs (the default SIGTERM action skips it)


def _timed(work: Callable[[T], dict[str, Any]], item: T) -> tuple[dict[str, Any], float]:
    c0 = time.process_time()
    rec = work(item)
    return rec, time.process_time() - c0


def run_pool(
    items: Sequence[T],
    jobs: int,
    *,
    init: Callable[..., None],
    init_args: tuple[Any, ...],
    work: Callable[[T], dict[str, Any]],
    on_done: Callable[[T, dict[str, Any], float], None],
    describe: Callable[[T], str] = str,
) -> None:
    """Run ``work(item)`` for every item on ``jobs`` spawned workers; ``on_done(item, record, cpu_seconds)`` in the
    parent as each finishes (in completion order). A worker's exception stops the run and is re-raised here."""
    if not items:
        return
    threads = worker_threads(jobs)
    log.info("running %d cells on %d worker processes, %d thread(s) each", len(items), jobs, threads)
    level = logging.getLogger("gancompress").getEffectiveLevel()
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(items)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start,
        initargs=(init, init_args, threads, level),
    )
    pending: dict[Future[tuple[dict[str, Any], float]], T] = {pool.submit(_timed, work, it): it for it in items}
    done = 0
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _sigterm_to_exit) if main else None
    try:
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                item = pending.pop(fut)
                rec, cpu = fut.result()
                done += 1
                log.info("[%d/%d] done: %s", done, len(items), describe(item))
                on_done(item, rec, cpu)
    except BaseException:
        # DECISION: stop the cells in flight rather than wait minutes for them (Ctrl-C, SIGTERM, a failed cell);
        # their results were never recorded, so --resume runs them again
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


__all__ = ["run_pool", "worker_threads"]
