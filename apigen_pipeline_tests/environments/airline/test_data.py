"""The seeded generator: determinism, sizes, referential integrity and realistic value mixes."""

from __future__ import annotations

from collections import Counter

import pytest

from apigen_pipeline.environments.airline import rules
from apigen_pipeline.environments.airline.data import generate_data, record_counts
from apigen_pipeline.environments.database import canonical_json


@pytest.fixture(scope="module")
def tables(env):
    return env.snapshot.tables


def test_same_seed_gives_identical_bytes_and_another_seed_differs():
    first = canonical_json(generate_data(7, 0.25))
    assert canonical_json(generate_data(7, 0.25)) == first
    assert canonical_json(generate_data(8, 0.25)) != first


def test_counts_at_scale_one_match_the_targets(tables):
    assert {table: len(records) for table, records in tables.items()} == {
        "airports": 20, "flights": 300, "users": 500, "reservations": 2000}


def test_scale_multiplies_counts():
    small = generate_data(3, 0.1)
    assert {table: len(records) for table, records in small.items()} == record_counts(0.1) == {
        "airports": 20, "flights": 30, "users": 50, "reservations": 200}
    check_integrity(small)


def test_every_flight_has_one_entry_per_schedule_date(tables):
    for flight in tables["flights"].values():
        assert tuple(flight["dates"]) == rules.SCHEDULE_DATES
        for day, entry in flight["dates"].items():
            if entry["status"] == "available":
                assert day >= rules.TODAY
                assert set(entry["available_seats"]) == set(entry["prices"]) == set(rules.CABINS)
            elif entry["status"] in ("landed", "flying"):
                assert day <= rules.TODAY


def check_integrity(tables) -> None:
    users, flights = tables["users"], tables["flights"]
    for reservation_id, reservation in tables["reservations"].items():
        assert len(reservation_id) == 6 and reservation["reservation_id"] == reservation_id
        user = users[reservation["user_id"]]
        assert reservation_id in user["reservations"]
        segments = reservation["flights"]
        assert rules.route_problems(segments, reservation["origin"], reservation["destination"],
                                    reservation["flight_type"]) == []
        for segment in segments:
            flight = flights[segment["flight_number"]]
            assert (flight["origin"], flight["destination"]) == (segment["origin"], segment["destination"])
            assert segment["date"] in flight["dates"]
        travellers = len(reservation["passengers"])
        assert 1 <= travellers <= rules.MAX_PASSENGERS
        assert reservation["nonfree_baggages"] == rules.expected_nonfree_bags(
            user["membership"], reservation["cabin"], travellers, reservation["total_baggages"])
        price = (sum(rules.cents(s["price"]) for s in segments) * travellers
                 + (3000 * travellers if reservation["insurance"] == "yes" else 0)
                 + 5000 * reservation["nonfree_baggages"])
        paid = sum(rules.cents(p["amount"]) for p in reservation["payment_history"])
        assert paid == (0 if reservation["status"] == "cancelled" else price)
        assert reservation["created_at"] < rules.NOW
    for user_id, user in users.items():
        assert user["user_id"] == user_id
        assert any(m["source"] in ("credit_card", "gift_card") for m in user["payment_methods"].values())
        for method_id, method in user["payment_methods"].items():
            assert method["id"] == method_id and method_id.startswith(method["source"] + "_")


def test_references_prices_and_bags_are_consistent(tables):
    check_integrity(tables)


def test_values_have_a_realistic_mix(tables):
    reservations = list(tables["reservations"].values())
    statuses = Counter(e["status"] for f in tables["flights"].values() for e in f["dates"].values())
    assert set(statuses) == set(rules.FLIGHT_STATUSES)
    assert statuses["available"] > statuses["cancelled"] > 0
    assert set(Counter(r["cabin"] for r in reservations)) == set(rules.CABINS)
    assert 0.05 < sum(r["status"] == "cancelled" for r in reservations) / len(reservations) < 0.2
    assert {r["flight_type"] for r in reservations} == set(rules.FLIGHT_TYPES)
    assert Counter(u["membership"] for u in tables["users"].values()).keys() == set(rules.MEMBERSHIPS)
    assert any(rules.booked_within_grace_period(r) for r in reservations)
    prices = [s["price"] for r in reservations for s in r["flights"]]
    assert any(round(p) != p for p in prices), "prices carry cents"
    connections = [r for r in reservations if r["flight_type"] == "one_way" and len(r["flights"]) == 2]
    assert connections, "some trips connect"
