"""Process helpers for tests of dead runs: a pid that no longer exists, and waiting for a condition."""

import subprocess
import sys
import time
from collections.abc import Callable


def dead_pid() -> int:
    """The pid of a process that has exited (and been waited for)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def wait_until(condition: Callable[[], bool], timeout_s: float = 240, poll_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(poll_s)
