"""Whether the process that ran something is still the one running: the identity a process records
about itself (pid, host, start time) and the verdict on it from this machine.

A pid alone is not an identity: after a crash or a reboot the number is handed to another process, so
a recorded pid that exists again proves nothing. The start time does: a process whose start differs
from the recorded one (or is later than a moment the recorded process was already seen running) is
another process under a recycled pid. A process on another host cannot be checked from here at all:
that verdict is left to whoever watches that host (Dagster's run monitoring for launched runs).
"""

from __future__ import annotations

import enum
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

# Run tags `apigen run` puts on the runs it executes in its own process.
PID_TAG = "apigen/pid"
HOST_TAG = "apigen/host"
PROCESS_STARTED_TAG = "apigen/pid_started"   # the process's start, epoch seconds (2 decimals)

# /proc gives start times in clock ticks since boot and the boot time in whole seconds, so one process
# always yields the same value on one boot; a recycled pid started seconds (a reboot: hours) later.
START_TOLERANCE_S = 1.0


class Liveness(enum.Enum):
    ALIVE = "alive"
    GONE = "gone"          # no such process, a zombie, or another process under the recycled pid
    UNKNOWN = "unknown"    # recorded on another host: not checkable from here


@dataclass(frozen=True)
class RecordedProcess:
    """What is known about the process that ran something."""

    pid: int
    host: str
    started_at: float | None = None   # its start (epoch seconds), recorded by the process itself
    seen_at: float | None = None      # a moment it was known to be running (e.g. the run's first event)


@dataclass(frozen=True)
class ObservedProcess:
    """What this machine sees under a pid now."""

    exists: bool
    zombie: bool = False
    started_at: float | None = None   # None where the platform does not say (no /proc)


@dataclass(frozen=True)
class Verdict:
    liveness: Liveness
    why: str


def judge(recorded: RecordedProcess, host: str, observed: ObservedProcess) -> Verdict:
    """The verdict on a recorded process, given what `host` (this machine) observes under its pid."""
    where = f"{recorded.pid} on {recorded.host}"
    if recorded.host != host:
        return Verdict(Liveness.UNKNOWN, f"its process {where} is on another host")
    if not observed.exists or observed.zombie:
        return Verdict(Liveness.GONE, f"its process {where} is gone")
    if observed.started_at is not None:
        restarted = recorded.started_at is not None and abs(observed.started_at - recorded.started_at) > START_TOLERANCE_S
        born_later = recorded.seen_at is not None and observed.started_at > recorded.seen_at + START_TOLERANCE_S
        if restarted or born_later:
            started = datetime.fromtimestamp(observed.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            return Verdict(Liveness.GONE, f"its process {where} is gone (pid {recorded.pid} now belongs to a "
                                          f"process started {started} UTC)")
    return Verdict(Liveness.ALIVE, f"its process {where} is running")


# -- this machine ---------------------------------------------------------------------------------

def this_host() -> str:
    return socket.gethostname()


def observe(pid: int) -> ObservedProcess:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ObservedProcess(exists=False)
    except PermissionError:
        pass  # it exists, under another user
    state, started_at = _proc_stat(pid)
    return ObservedProcess(exists=True, zombie=state == "Z", started_at=started_at)


def process_started_at(pid: int) -> float | None:
    return _proc_stat(pid)[1]


def own_process_tags(pid: int | None = None) -> dict[str, str]:
    """The tags that identify a process of this machine (default: this one) on a run."""
    pid = os.getpid() if pid is None else pid
    tags = {PID_TAG: str(pid), HOST_TAG: this_host()}
    started = process_started_at(pid)
    if started is not None:
        tags[PROCESS_STARTED_TAG] = f"{started:.2f}"
    return tags


def recorded_from_tags(tags: dict[str, str]) -> RecordedProcess | None:
    pid = tags.get(PID_TAG, "")
    if not pid.isdigit():
        return None
    try:
        started = float(tags[PROCESS_STARTED_TAG]) if PROCESS_STARTED_TAG in tags else None
    except ValueError:
        started = None
    return RecordedProcess(pid=int(pid), host=tags.get(HOST_TAG, ""), started_at=started)


def _proc_stat(pid: int) -> tuple[str | None, float | None]:
    """(state, start as epoch seconds) from /proc; (None, None) where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None, None
    boot = _boot_time()
    # After the command name: field 3 (state) is fields[0], field 22 (starttime, in ticks) is fields[19].
    if len(fields) < 20 or boot is None:
        return (fields[0] if fields else None), None
    return fields[0], round(boot + int(fields[19]) / os.sysconf("SC_CLK_TCK"), 2)


@cache
def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None
