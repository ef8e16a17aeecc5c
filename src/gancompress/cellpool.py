"""Run independent reproduction cells in worker processes (``reproduce … --jobs N``).

Each (row, seed) cell is an independent training run, so on a machine with N cores N cells can run at once, each
worker with ``cores // N`` threads (one small GAN does not use two cores well; PAPER.md §7 asks for ≥ 3 seeds, which
is where the hours go). Workers are spawned (never forked: a forked process inherits torch's thread pools and any
CUDA context), each builds its own job from the parent's state — the same config, data, cached evaluator and the
already-scored teacher — and returns the cell's record. Only the parent writes ``results.json``, so a crash still
loses at most the cells in flight and ``--resume`` picks up the rest.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from gancompress.reproduce import Cell, Table1Job

log = logging.getLogger(__name__)

_JOB: Table1Job | None = None  # the worker process's own job, built once by _init_worker


def worker_threads(jobs: int) -> int:
    """Intra-op threads per worker: the machine's cores shared evenly, at least one."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _init_worker(
    cfg: Any, profile: dict[str, Any], out: str, results: dict[str, Any], threads: int, level: int
) -> None:
    from pathlib import Path

    from gancompress.reproduce import Table1Job

    global _JOB
    logging.basicConfig(level=level, format=f"[worker {os.getpid()}] %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(threads)
    _JOB = Table1Job(cfg, profile, Path(out), results)
    _JOB.teacher(None)  # the teacher is already trained and scored: this reloads it from results["teacher"]


def _run(cell: Cell) -> tuple[dict[str, Any], float]:
    import time

    assert _JOB is not None, "worker not initialised"
    c0 = time.process_time()
    rec = _JOB.train_cell(cell)
    return rec, time.process_time() - c0


def run_parallel(job: Table1Job, cells: list[Cell], jobs: int) -> None:
    """Run ``cells`` on ``jobs`` worker processes; the parent records each cell as it finishes."""
    if not cells:
        return
    threads = worker_threads(jobs)
    log.info("running %d cells on %d worker processes, %d thread(s) each", len(cells), jobs, threads)
    init = (
        job.cfg,
        job.profile,
        str(job.out),
        job.results,
        threads,
        logging.getLogger("gancompress").getEffectiveLevel(),
    )
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(cells)), mp_context=ctx, initializer=_init_worker, initargs=init
    )
    pending: dict[Future[tuple[dict[str, Any], float]], Cell] = {pool.submit(_run, c): c for c in cells}
    done_count = 0
    try:
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                cell = pending.pop(fut)
                rec, cpu = fut.result()  # a worker's exception is re-raised here and stops the run
                done_count += 1
                log.info("[%d/%d] done: %s seed %d", done_count, len(cells), cell.name, cell.seed)
                job.record(cell, rec, worker_cpu=cpu)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["run_parallel", "worker_threads"]
