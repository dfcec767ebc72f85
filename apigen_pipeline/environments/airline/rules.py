"""The airline's business rules as plain functions, shared by the tools, the policy checks and the
samplers so that "what the policy allows" has exactly one definition."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

# The domain's clock: every rule about "now" reads this, never the wall clock, so replays agree.
NOW = "2024-05-15T15:00:00"
TODAY = NOW[:10]
FIRST_DATE = "2024-05-01"
DAYS_IN_SCHEDULE = 30

CABINS = ("basic_economy", "economy", "business")
FLIGHT_TYPES = ("one_way", "round_trip")
MEMBERSHIPS = ("regular", "silver", "gold")
PAYMENT_SOURCES = ("credit_card", "gift_card", "certificate")
FLIGHT_STATUSES = ("available", "delayed", "cancelled", "landed", "flying")
CANCELLATION_REASONS = ("change_of_plan", "airline_cancelled_flight", "health", "weather", "other")
INSURANCE_COVERED_REASONS = frozenset({"health", "weather"})

FREE_BAGS_PER_PASSENGER: Mapping[str, Mapping[str, int]] = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 3},
}
CHECKED_BAG_FEE = 50
INSURANCE_FEE_PER_PASSENGER = 30
MAX_PASSENGERS = 5
PAYMENT_MIX_LIMITS: Mapping[str, int] = {"certificate": 1, "credit_card": 1, "gift_card": 3}
COMPENSATION_PER_PASSENGER: Mapping[str, int] = {"cancelled": 100, "delayed": 50}
COMPENSATION_MEMBERSHIPS = frozenset({"silver", "gold"})
FLOWN_STATUSES = frozenset({"landed", "flying"})
MIN_CONNECTION_MINUTES = 45
CANCELLATION_GRACE_HOURS = 24

FlightLookup = Callable[[str], Mapping[str, Any] | None]


def cents(amount: float) -> int:
    """Money is compared in whole cents so float noise never decides a payment."""
    return round(amount * 100)


def money(amount_in_cents: int) -> float:
    return amount_in_cents / 100


def free_bag_allowance(membership: str, cabin: str, passenger_count: int) -> int:
    return FREE_BAGS_PER_PASSENGER[membership][cabin] * passenger_count


def expected_nonfree_bags(membership: str, cabin: str, passenger_count: int, total_bags: int) -> int:
    return max(0, total_bags - free_bag_allowance(membership, cabin, passenger_count))


def payment_source(payment_id: str, user: Mapping[str, Any] | None = None) -> str | None:
    """The kind of a payment method: from the user's record when known, else from the id's prefix
    (certificates are consumed when used, so a historical id may no longer be on the profile)."""
    if user is not None:
        method = user.get("payment_methods", {}).get(payment_id)
        if method is not None:
            return method["source"]
    for source in PAYMENT_SOURCES:
        if payment_id.startswith(source + "_"):
            return source
    return None


def hours_between(earlier_iso: str, later_iso: str) -> float:
    return (datetime.fromisoformat(later_iso) - datetime.fromisoformat(earlier_iso)).total_seconds() / 3600


def booked_within_grace_period(reservation: Mapping[str, Any], now: str = NOW) -> bool:
    return 0 <= hours_between(reservation["created_at"], now) <= CANCELLATION_GRACE_HOURS


@lru_cache(maxsize=4096)
def shift_date(iso_date: str, days: int) -> str:
    return (date.fromisoformat(iso_date) + timedelta(days=days)).isoformat()


SCHEDULE_DATES = tuple(shift_date(FIRST_DATE, offset) for offset in range(DAYS_IN_SCHEDULE))


def clock_minutes(time_est: str) -> int:
    """'HH:MM:SS' (or 'HH:MM:SS+1' for an arrival the next day) as minutes after midnight of departure."""
    minutes = int(time_est[0:2]) * 60 + int(time_est[3:5])
    return minutes + 1440 if time_est.endswith("+1") else minutes


def segment_status(flights: FlightLookup, flight_number: str, flight_date: str) -> str | None:
    flight = flights(flight_number)
    if flight is None:
        return None
    entry = flight["dates"].get(flight_date)
    return None if entry is None else entry["status"]


def segment_statuses(flights: FlightLookup, reservation: Mapping[str, Any]) -> list[str | None]:
    return [segment_status(flights, s["flight_number"], s["date"]) for s in reservation["flights"]]


def has_flown_segment(flights: FlightLookup, reservation: Mapping[str, Any]) -> bool:
    return any(status in FLOWN_STATUSES for status in segment_statuses(flights, reservation))


def cancellation_grounds(flights: FlightLookup, reservation: Mapping[str, Any], reason: str | None) -> list[str]:
    """Why the policy lets this reservation be cancelled (empty: it does not)."""
    grounds: list[str] = []
    if booked_within_grace_period(reservation):
        grounds.append("booked within the last 24 hours")
    if "cancelled" in segment_statuses(flights, reservation):
        grounds.append("a flight was cancelled by the airline")
    if reservation["cabin"] == "business":
        grounds.append("business cabin")
    if reservation["insurance"] == "yes" and reason in INSURANCE_COVERED_REASONS:
        grounds.append(f"travel insurance covers '{reason}'")
    return grounds


def disruption(flights: FlightLookup, reservation: Mapping[str, Any]) -> str | None:
    """'cancelled' or 'delayed' when an airline disruption affects the reservation (cancelled wins)."""
    statuses = segment_statuses(flights, reservation)
    if "cancelled" in statuses:
        return "cancelled"
    if "delayed" in statuses:
        return "delayed"
    return None


def compensation_limit(flights: FlightLookup, user: Mapping[str, Any], reservation: Mapping[str, Any]) -> int:
    """The largest certificate (whole dollars) the policy allows for this reservation, 0 if none."""
    if reservation["status"] != "active" or reservation["user_id"] != user["user_id"]:
        return 0
    kind = disruption(flights, reservation)
    if kind is None:
        return 0
    eligible = (user["membership"] in COMPENSATION_MEMBERSHIPS or reservation["insurance"] == "yes"
                or reservation["cabin"] == "business")
    return COMPENSATION_PER_PASSENGER[kind] * len(reservation["passengers"]) if eligible else 0


def route_problems(segments: Sequence[Mapping[str, Any]], origin: str, destination: str, flight_type: str) -> list[str]:
    """Why an itinerary (segments with origin, destination, date) does not fly origin -> destination
    as one trip of the given type (round trips return to the origin)."""
    if not segments:
        return ["the itinerary has no flights"]
    problems: list[str] = []
    if segments[0]["origin"] != origin:
        problems.append(f"it starts at {segments[0]['origin']}, not at the origin {origin}")
    final = origin if flight_type == "round_trip" else destination
    if segments[-1]["destination"] != final:
        problems.append(f"it ends at {segments[-1]['destination']}, not at {final}")
    for previous, following in zip(segments, segments[1:], strict=False):
        if previous["destination"] != following["origin"]:
            problems.append(f"{previous['flight_number']} lands at {previous['destination']} but "
                            f"{following['flight_number']} leaves from {following['origin']}")
        if following["date"] < previous["date"]:
            problems.append(f"{following['flight_number']} on {following['date']} is before "
                            f"{previous['flight_number']} on {previous['date']}")
    reaches_destination = any(s["destination"] == destination for s in segments)
    if flight_type == "round_trip" and not reaches_destination:
        problems.append(f"the round trip never reaches {destination}")
    if flight_type == "one_way" and any(s["destination"] == origin for s in segments):
        problems.append("a one-way trip returns to its origin")
    return problems
