"""The budgets of a reproduction's profile (``--profile quick|full``), one dataclass for every experiment.

Each experiment declares its own ``quick`` and ``full`` instances (demo.py, table1/config.py, sweeps/sweep.py) and
records the fields it uses in its ``config.json`` / ``results.json`` with :meth:`Profile.record` — the same keys,
in the same order, as the dicts it replaces.

Example:
    >>> p = Profile("quick", teacher_steps=600, budget_fractions=(0.1, 0.2), num_samples=1000, limit=12000)
    >>> p.budget_fraction, p.record("name", "budget_fractions", "seeds")
    (0.1, {'name': 'quick', 'budget_fractions': (0.1, 0.2), 'seeds': 1})
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from gancompress.config import PROFILE_NAMES
from gancompress.errors import UserError


@dataclass(frozen=True)
class Profile:
    """One profile's budgets.

    Attributes:
        name: ``quick`` or ``full`` (:data:`gancompress.config.PROFILE_NAMES`).
        budget_fractions: compression budgets as fractions of the teacher's steps (the first one is *the* budget of
            an experiment that runs one).
        num_samples: generated samples per score.
        teacher_steps: teacher training steps; ``None`` where each task sets its own (tasks.py ``steps``).
        limit: training images used (``None``: all).
        seeds: training seeds per row / point.
    """

    name: str
    budget_fractions: tuple[float, ...]
    num_samples: int
    teacher_steps: int | None = None
    limit: int | None = None
    seeds: int = 1

    def __post_init__(self) -> None:
        if self.name not in PROFILE_NAMES:
            raise UserError(f"unknown profile {self.name!r}; valid: {', '.join(PROFILE_NAMES)}")
        if not self.budget_fractions or not all(0 < f <= 1 for f in self.budget_fractions):
            raise UserError(f"profile {self.name}: budget fractions must be in (0, 1], got {self.budget_fractions}")

    @property
    def budget_fraction(self) -> float:
        """The compression budget of an experiment that runs one (the first of :attr:`budget_fractions`)."""
        return self.budget_fractions[0]

    def record(self, *keys: str) -> dict[str, Any]:
        """The profile as an experiment writes it to ``config.json`` / ``results.json``: ``keys`` in that order
        (``budget_fraction`` is the single budget)."""
        known = {f.name for f in fields(self)} | {"budget_fraction"}
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise KeyError(f"Profile has no field {unknown[0]!r}")
        return {k: getattr(self, k) for k in keys}


def pick(profiles: dict[str, Profile], name: str) -> Profile:
    """``profiles[name]``, or a ``UserError`` listing the profiles there are."""
    if name not in profiles:
        raise UserError(f"unknown profile {name!r}; valid: {', '.join(profiles)}")
    return profiles[name]


__all__ = ["Profile", "pick"]
