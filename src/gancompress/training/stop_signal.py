"""SIGINT / SIGTERM during training: let the step in progress finish, be checkpointed, then stop (training/loop.py).

A run interrupted this way resumes exactly where it stopped (``--out RUN --resume``); a second signal stops at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

log = logging.getLogger(__name__)


class StopSignal:
    """SIGINT / SIGTERM during training: remember it, let the step in progress finish and be checkpointed.

    A second signal gets the previous handler (a second Ctrl-C stops at once). Installed only in the main thread
    of a single-process run with checkpoints on (``enabled``); otherwise the signals keep their usual effect.
    """

    def __init__(self, *, enabled: bool) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}
        if enabled and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal = signum
        log.warning("signal %d: finishing the current step and saving a checkpoint (again to stop at once)", signum)
        signal.signal(signum, self._old.get(signum, signal.default_int_handler))

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()


__all__ = ["StopSignal"]
