"""``cellpool.run_pool`` stops its workers when the parent is stopped: SIGTERM (the parent cleans up) and SIGKILL (each
worker notices its parent is gone). Orphaned workers would train on with nobody to record their results.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import os, sys, time
from pathlib import Path
from gancompress.experiments.cellpool import run_pool

OUT = Path(sys.argv[1])

def init():
    pass

def work(item):
    (OUT / f"worker{item}.pid").write_text(str(os.getpid()))
    time.sleep(120)
    return {}

if __name__ == "__main__":
    run_pool([0, 1], 2, init=init, init_args=(), work=work, on_done=lambda *a: None)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _wait(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_stop_with_their_parent(tmp_path: Path, sig: signal.Signals) -> None:
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env, stderr=subprocess.DEVNULL)
    try:
        assert _wait(lambda: len(list(tmp_path.glob("worker*.pid"))) == 2, 120), "workers did not start"
        workers = [int(p.read_text()) for p in tmp_path.glob("worker*.pid")]
        parent.send_signal(sig)
        parent.wait(timeout=60)
        assert _wait(lambda: not any(_alive(w) for w in workers), 30), f"orphaned workers after {sig.name}"
    finally:
        parent.kill()
