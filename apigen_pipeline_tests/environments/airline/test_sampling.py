"""Samples and proposed ground truth: grounded, applicable, executable and policy-compliant."""

from __future__ import annotations

import random
import time
from dataclasses import replace

import pytest

from apigen_pipeline.environments.airline import plugin as airline_plugin
from apigen_pipeline.environments.airline.planning import supports
from apigen_pipeline.environments.airline.sampling import propose_actions, sample_domain_data
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.dependency_graph import DependencyGraph

WRITE_TOOLS = ["book_reservation", "cancel_reservation", "update_reservation_flights",
               "update_reservation_baggages", "update_reservation_passengers", "send_certificate"]


def replay(env, actions):
    session = env.new_session()
    for action in actions:
        call = session.execute(action.name, action.arguments)
        assert call.ok, f"{action.name}{action.arguments} -> {call.observation}"
    return session


@pytest.mark.parametrize("tool", WRITE_TOOLS)
def test_proposals_execute_cleanly_and_follow_the_policy(env, tool):
    rng = random.Random(f"airline-{tool}")
    for _ in range(200):
        sample = env.sample_domain_data(rng, [tool])
        actions = propose_actions(sample, [tool], rng)
        assert actions is not None, f"sample for {tool} does not support it: {sample.user_id}"
        assert actions[0].name == "get_user_details" and actions[0].arguments == sample.identity
        assert [a.name for a in actions].count(tool) == 1
        session = replay(env, actions)
        assert env.check_policy(env.fresh_database(), session.trace, session.database) == []
        assert session.state_hash() != env.fingerprint()


def test_tool_combinations_from_graph_walks(env):
    graph = DependencyGraph.from_plugin(env.plugin)
    rng = random.Random(11)
    proposed = 0
    for _ in range(80):
        walk = graph.random_walk(rng, rng.randint(2, 3))
        sample = env.sample_domain_data(rng, walk)
        actions = propose_actions(sample, walk, rng)
        if actions is None:
            assert walk.count("send_certificate") > 1  # the policy allows one certificate per task
            continue
        proposed += 1
        session = replay(env, actions)
        assert env.check_policy(env.fresh_database(), session.trace, session.database) == []
    assert proposed > 50


def test_sample_holds_the_user_and_what_the_task_can_touch(env):
    sample = env.sample_domain_data(random.Random(5), ["cancel_reservation"])
    user = sample.records["users"][sample.user_id]
    assert sample.identity == {"user_id": sample.user_id}
    # The reservations a cancellation can act on, and only those (the prompt carries what the task can involve).
    cancellable = [rid for rid in user["reservations"] if supports(
        "cancel_reservation", lambda number: env.fresh_database().get("flights", number), user,
        env.fresh_database().get("reservations", rid))]
    assert cancellable and list(sample.records["reservations"]) == cancellable
    for reservation in sample.records["reservations"].values():
        for segment in reservation["flights"]:
            assert segment["date"] in sample.records["flights"][segment["flight_number"]]["dates"]


def test_sampling_is_deterministic_and_detached_from_the_database(env):
    first = env.sample_domain_data(random.Random(9), ["update_reservation_flights", "book_reservation"])
    second = env.sample_domain_data(random.Random(9), ["update_reservation_flights", "book_reservation"])
    assert first == second
    db = env.fresh_database()
    before = db.state_hash()
    first.records["users"][first.user_id]["membership"] = "platinum"
    assert env.fresh_database().get("users", first.user_id)["membership"] != "platinum"
    assert db.state_hash() == before


def test_sampling_is_fast(env):
    db = env.fresh_database()
    rng = random.Random(3)
    sample_domain_data(db, rng, ["cancel_reservation"])  # warm the per-state lookup lists
    started = time.process_time()
    for _ in range(1000):
        sample_domain_data(db, rng, [rng.choice(WRITE_TOOLS)])
    assert time.process_time() - started < 1.25  # so 10,000 samples stay well under 5 s


def _users_without_id_fields() -> dict:
    """Airline data as another harness may ship it: user records keyed by id without repeating it."""
    tables = airline_plugin.generate_data(0, 0.2)
    for user in tables["users"].values():
        del user["user_id"]
    return tables


@pytest.mark.parametrize("tool", WRITE_TOOLS)
def test_samples_and_proposals_take_the_user_id_from_the_record_key(tool):
    foreign = Environment(replace(airline_plugin, generate_data=None, load_data=_users_without_id_fields))
    rng = random.Random(f"keys-{tool}")
    planned = 0
    for _ in range(40):
        sample = foreign.sample_domain_data(rng, [tool])
        assert sample.identity == {"user_id": sample.user_id} and sample.user_id in sample.records["users"]
        actions = propose_actions(sample, [tool], rng)
        if actions is not None:
            planned += 1
            assert actions[0].arguments == {"user_id": sample.user_id}
            replay(foreign, actions)
    assert planned > 0
