"""Process identity: a recorded pid is judged by what this machine sees under it now, start time included."""

import os

import pytest

from apigen_pipeline.processes import (
    PROCESS_STARTED_TAG,
    Liveness,
    ObservedProcess,
    RecordedProcess,
    judge,
    observe,
    own_process_tags,
    recorded_from_tags,
)
from apigen_pipeline_tests.support.processes import dead_pid

HOST = "node-1"
STARTED = 1_790_000_000.25


@pytest.mark.parametrize(("recorded", "observed", "liveness", "why"), [
    (RecordedProcess(41, HOST, STARTED), ObservedProcess(True, started_at=STARTED), Liveness.ALIVE, "is running"),
    (RecordedProcess(41, HOST, STARTED), ObservedProcess(False), Liveness.GONE, "its process 41 on node-1 is gone"),
    (RecordedProcess(41, HOST, STARTED), ObservedProcess(True, zombie=True, started_at=STARTED), Liveness.GONE,
     "is gone"),
    # The pid was recycled: the process under it started later (after a reboot, or a crash and a new start).
    (RecordedProcess(41, HOST, STARTED), ObservedProcess(True, started_at=STARTED + 3600), Liveness.GONE,
     "now belongs to a process started"),
    # Only a moment it ran is known (a run's first event): a process born after that is another one.
    (RecordedProcess(41, HOST, seen_at=STARTED), ObservedProcess(True, started_at=STARTED + 60), Liveness.GONE,
     "now belongs to a process started"),
    (RecordedProcess(41, HOST, seen_at=STARTED), ObservedProcess(True, started_at=STARTED - 60), Liveness.ALIVE,
     "is running"),
    # Start times from /proc are stable to the tick; a rounding difference is the same process.
    (RecordedProcess(41, HOST, STARTED), ObservedProcess(True, started_at=STARTED + 0.01), Liveness.ALIVE, ""),
    # Without a start time on either side, an existing pid is taken as alive (nothing proves otherwise).
    (RecordedProcess(41, HOST), ObservedProcess(True, started_at=STARTED), Liveness.ALIVE, ""),
    (RecordedProcess(41, HOST, STARTED), ObservedProcess(True), Liveness.ALIVE, ""),
    # Another host is never judged from here, whatever this machine has under that pid.
    (RecordedProcess(41, "node-2", STARTED), ObservedProcess(False), Liveness.UNKNOWN, "on another host"),
])
def test_judge(recorded, observed, liveness, why):
    verdict = judge(recorded, HOST, observed)
    assert verdict.liveness is liveness and why in verdict.why


def test_this_process_is_alive_by_its_own_tags_and_a_finished_one_is_gone():
    tags = own_process_tags()
    recorded = recorded_from_tags(tags)
    assert recorded is not None and recorded.pid == os.getpid()
    assert judge(recorded, recorded.host, observe(recorded.pid)).liveness is Liveness.ALIVE
    if PROCESS_STARTED_TAG in tags:  # Linux: the start time is recorded; a wrong one means a recycled pid
        recycled = RecordedProcess(recorded.pid, recorded.host, started_at=recorded.started_at - 30)
        assert judge(recycled, recorded.host, observe(recorded.pid)).liveness is Liveness.GONE
    gone = dead_pid()
    assert judge(RecordedProcess(gone, recorded.host), recorded.host, observe(gone)).liveness is Liveness.GONE


def test_tags_without_a_numeric_pid_record_nothing():
    assert recorded_from_tags({"apigen/pid": "abc"}) is None
    assert recorded_from_tags({}) is None
    assert recorded_from_tags({"apigen/pid": "7", "apigen/host": "h", PROCESS_STARTED_TAG: "x"}) == \
        RecordedProcess(7, "h")
