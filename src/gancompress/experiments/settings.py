"""What an experiment's entry point is given: typed, frozen settings (built from the flags by ``cli/``).

The experiments never see ``argparse``: ``gancompress demo`` builds a :class:`DemoSettings`, ``gancompress reproduce``
a :class:`ReproduceSettings`; the part every command shares (config file, ``--set``, seed, device, ``--dry-run``,
data and the convenience options) is a :class:`gancompress.experiments.options.RunOptions`.

Example:
    >>> s = ReproduceSettings(run=RunOptions(dry_run=True), tasks="dcgan")
    >>> s.profile, s.run.dry_run, s.jobs
    ('quick', True, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gancompress.experiments.options import RunOptions


@dataclass(frozen=True)
class DemoSettings:
    """``gancompress demo``.

    Attributes:
        run: config file, ``--set``, data, seed, device, ``--dry-run``.
        profile: ``full``, ``quick``, ``wide`` (or ``default``, the old name of ``full``).
        teacher_steps: teacher steps instead of the profile's.
        out: run directory (default ``runs/demo``).
        overwrite: replace an existing ``out``.
    """

    run: RunOptions = field(default_factory=RunOptions)
    profile: str = "full"
    teacher_steps: int | None = None
    out: str | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class ReproduceSettings:
    """``gancompress reproduce table1|table2|granularity|structured`` (the flags each table reads: its entry).

    Attributes:
        run: config file, ``--set``, data, family, sparsity, granularity, samples, seed, device, ``--dry-run``.
        profile: ``quick``, ``full`` or ``wide``.
        seeds: training seeds per row / point (default: the profile's).
        teacher: table1: a teacher run directory; sweeps: ``task=DIR`` pairs.
        methods, variants, no_control: table1's rows (comma-separated) and the same-budget control.
        teacher_steps: table1: teacher steps instead of the profile's.
        budget_fraction, budget_fractions: the compression budget(s) as fractions of the teacher's steps.
        tasks, sparsities, granularities: the sweeps' plan (comma-separated).
        rows, mac_targets: the structured study's rows and MAC targets (comma-separated).
        filter_importance, no_latency, latency_rounds: the granularity study's filter criterion and timing.
        jobs: cells run at once in worker processes.
        out, resume, overwrite: the run directory and what to do when it exists.
    """

    run: RunOptions = field(default_factory=RunOptions)
    profile: str = "quick"
    seeds: int | None = None
    teacher: str | None = None
    methods: str | None = None
    variants: str | None = None
    no_control: bool = False
    teacher_steps: int | None = None
    budget_fraction: float | None = None
    budget_fractions: str | None = None
    tasks: str | None = None
    sparsities: str | None = None
    granularities: str | None = None
    rows: str | None = None
    mac_targets: str | None = None
    filter_importance: str = "bn_scale"
    no_latency: bool = False
    latency_rounds: int = 5
    jobs: int | None = 1
    out: str | None = None
    resume: bool = False
    overwrite: bool = False


__all__ = ["DemoSettings", "ReproduceSettings", "RunOptions"]
