"""Measured CPU latency of a granularity sweep's generators, next to their quality (``reproduce granularity``).

After all cells of a task are trained, their saved generators are timed in one process against the dense teacher,
interleaved (:func:`gancompress.export.latency.benchmark_latency`: rotating order, medians over rounds), so slow
drifts of a shared machine hit all alike. Each is timed the way a CPU would run it today:

- ``filter``: physically shrunk (channels removed, :func:`~gancompress.pruning.physical.remove_pruned_channels`) —
  a smaller dense network, which is where a real speed-up comes from;
- ``element`` / ``vector`` / ``kernel`` / ``N:M``: the masked dense module — zeros in a dense kernel cost the same
  time on a CPU (N:M needs sparse tensor cores; packed export saves bytes, not time).

The ideal ratio (dense MACs / non-zero MACs) is reported beside the measured one, so the gap is visible.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gancompress.api import load_gan
from gancompress.export.latency import add_speedups, benchmark_latency
from gancompress.export.stats import model_stats
from gancompress.pruning.physical import remove_pruned_channels

if TYPE_CHECKING:
    from gancompress.experiments.sweeps.sweep import Sweep

log = logging.getLogger(__name__)

BATCH_SIZES = (1, 16)
THREADS = 1  # one core: what a sweep's numbers mean on any machine; a busy second core does not skew them


def deployable(g: nn.Module, granularity: str, example: tuple[torch.Tensor, ...]) -> tuple[nn.Module, str]:
    """The module a CPU runs for a generator pruned at ``granularity``, and how it was made."""
    if granularity in ("filter", "channel"):
        small, report = remove_pruned_channels(g, example)
        return small.eval(), f"physical ({len(report.get('removed', {}))} layers shrunk)"
    return g.eval(), "masked dense"


def measure_latency(
    sweep: Sweep,
    task: str,
    *,
    rounds: int = 5,
    backends: tuple[str, ...] = ("eager",),
    threads: tuple[int, ...] = (THREADS,),
) -> dict[str, Any]:
    """Latency rows of the dense teacher and every cell of ``task`` (first seed), with speed-up vs ideal, per backend
    (``eager``, ``onnx`` = ONNX Runtime) and thread count."""
    st = sweep.state(task)
    g_dense, _, loss = st.view()
    device = st.cfg.device

    def make_inputs(b: int) -> tuple[torch.Tensor, ...]:
        return tuple(loss.sample_input(b, torch.Generator().manual_seed(0), device))

    first_seed = sweep.results["plan"]["seeds"][0]
    models: dict[str, nn.Module] = {"dense": g_dense.eval()}
    how: dict[str, str] = {"dense": "teacher"}
    for key, cell in sweep.results["tasks"][task]["cells"].items():
        if cell["seed"] != first_seed:
            continue
        g, _ = load_gan(sweep.out / cell["run"], device)
        models[key], how[key] = deployable(g, cell.get("prune_granularity", cell["granularity"]), make_inputs(2))
    stats = {name: {**model_stats(m, make_inputs(1)), "form": how[name]} for name, m in models.items()}
    rows = []
    for n in threads:
        log.info(
            "%s: timing %d generators (%d rounds, batch %s, %s, %d thread(s))",
            task, len(models), rounds, BATCH_SIZES, "/".join(backends), n,
        )  # fmt: skip
        timed = benchmark_latency(
            models, make_inputs, batch_sizes=BATCH_SIZES, backends=backends, threads=n, rounds=rounds
        )
        rows += [{**r, "threads": n} for r in add_speedups(timed, stats, {m: "dense" for m in models if m != "dense"})]
    return {
        "threads": threads[0] if len(threads) == 1 else list(threads), "batch_sizes": list(BATCH_SIZES),
        "backends": list(backends), "rounds": rounds, "stats": stats, "rows": rows,
    }  # fmt: skip


__all__ = ["deployable", "measure_latency"]
