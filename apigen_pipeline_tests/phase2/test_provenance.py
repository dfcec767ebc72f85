"""A trajectory's provenance: its own requests (human, critic, agent) combined with its blueprint's."""

from apigen_pipeline.phase2.models import TrajectoryAttempt
from apigen_pipeline.phase2.provenance import request_keys, with_provenance


def attempt(trajectory_id: str, blueprint_id: str, keys: list[str]) -> TrajectoryAttempt:
    return TrajectoryAttempt(trajectory_id=trajectory_id, blueprint_id=blueprint_id, attempt_index=0, messages=[],
                             executed_calls=[], final_state_hash="h", end_reason="user_stop", request_keys=keys)


def test_a_trajectory_is_labelled_from_its_requests_and_its_blueprint():
    attempts = [attempt("t1", "b1", ["k1", "k2"]), attempt("t2", "b2", ["k3"]), attempt("t3", "b3", ["k4"]),
                attempt("t4", "b1", ["missing"])]
    assert request_keys(attempts) == ["k1", "k2", "k3", "k4", "missing"]
    flags = {"k1": True, "k2": True, "k3": False, "k4": True}
    labelled = with_provenance(attempts, flags, {"b1": "true", "b2": "false", "b3": "false"})
    assert [a.simulated for a in labelled] == ["true", "false", "mixed", "true"]
    assert [a.simulated for a in with_provenance(attempts, {}, {})] == [None] * 4
