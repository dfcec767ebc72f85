"""Helpers that pick seed-0 records with a given shape, so tests never hard-code generated ids."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from apigen_pipeline.environments.airline import rules
from apigen_pipeline.environments.base import Environment, ExecutedCall, Session
from apigen_pipeline.environments.database import Database

Record = Mapping[str, Any]


def flights_of(db: Database) -> rules.FlightLookup:
    return lambda number: db.get("flights", number)


def user_of(db: Database, reservation: Record) -> Record:
    user = db.get("users", reservation["user_id"])
    assert user is not None
    return user


def find_reservation(db: Database, predicate: Callable[[Record], bool]) -> Record:
    for _, reservation in db.records("reservations"):
        if predicate(reservation):
            return reservation
    raise AssertionError("no reservation in the seed-0 data matches the test's needs")


def find_user(db: Database, predicate: Callable[[Record], bool]) -> Record:
    for _, user in db.records("users"):
        if predicate(user):
            return user
    raise AssertionError("no user in the seed-0 data matches the test's needs")


def all_bookable(db: Database, reservation: Record, cabin: str | None = None, seats: int | None = None) -> bool:
    """Every segment is available with enough seats in `cabin` (the reservation's by default)."""
    cabin = cabin or reservation["cabin"]
    seats = len(reservation["passengers"]) if seats is None else seats
    for segment in reservation["flights"]:
        entry = db.get("flights", segment["flight_number"])["dates"][segment["date"]]
        if entry["status"] != "available" or entry["available_seats"][cabin] < seats:
            return False
    return True


def bookable_entry(db: Database, minimum_seats: int = 1, cabin: str = "economy") -> tuple[str, str, Record]:
    """A (flight_number, date, entry) that is available with at least `minimum_seats` in `cabin`."""
    for number, flight in db.records("flights"):
        for day, entry in flight["dates"].items():
            if day > rules.TODAY and entry["status"] == "available" and entry["available_seats"][cabin] >= minimum_seats:
                return number, day, entry
    raise AssertionError("no bookable flight found")


def entry_with_status(db: Database, status: str) -> tuple[str, str]:
    for number, flight in db.records("flights"):
        for day, entry in flight["dates"].items():
            if entry["status"] == status:
                return number, day
    raise AssertionError(f"no flight date with status {status}")


def credit_card(user: Record) -> str:
    return next(pid for pid, m in user["payment_methods"].items() if m["source"] == "credit_card")


def method_of(user: Record, source: str) -> str | None:
    return next((pid for pid, m in user["payment_methods"].items() if m["source"] == source), None)


def run(env: Environment, calls: list[tuple[str, dict[str, Any]]], database: Database | None = None) -> Session:
    """Execute calls in a fresh session and insist that every one succeeds."""
    session = env.new_session(database)
    for name, arguments in calls:
        call: ExecutedCall = session.execute(name, arguments)
        assert call.ok, f"{name} failed: {call.observation}"
    return session


def violations(env: Environment, session: Session, rule: str) -> list[str]:
    return [v.message for v in env.check_policy(env.fresh_database(), session.trace, session.database)
            if v.rule == rule]
