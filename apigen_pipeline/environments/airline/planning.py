"""Which policy-compliant writes a reservation supports, computed over a flight lookup so the same
answer comes from the full database (when sampling) and from a sampled excerpt (when proposing)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apigen_pipeline.environments.airline.rules import (
    CABINS,
    FLOWN_STATUSES,
    FlightLookup,
    cancellation_grounds,
    compensation_limit,
    disruption,
    has_flown_segment,
    segment_statuses,
    shift_date,
)

RESERVATION_WRITE_TOOLS = ("cancel_reservation", "update_reservation_flights", "update_reservation_baggages",
                           "update_reservation_passengers")
DATE_SHIFTS = (-3, -2, -1, 1, 2, 3)


@dataclass(frozen=True)
class FlightChange:
    cabin: str
    flights: tuple[tuple[str, str], ...]  # (flight_number, date) of the whole new itinerary


def _seats(flights: FlightLookup, flight_number: str, flight_date: str, cabin: str) -> int:
    flight = flights(flight_number)
    entry = flight["dates"].get(flight_date) if flight else None
    if entry is None or entry["status"] != "available":
        return 0
    return entry["available_seats"][cabin]


def _outbound_length(reservation: Mapping[str, Any]) -> int:
    """How many segments reach the destination; the rest (round trips) fly back."""
    for position, segment in enumerate(reservation["flights"]):
        if segment["destination"] == reservation["destination"]:
            return position + 1
    return len(reservation["flights"])


def flight_change_options(flights: FlightLookup, reservation: Mapping[str, Any]) -> list[FlightChange]:
    """Every cabin change, and for non-basic-economy reservations every move of the whole trip or of one
    direction by up to three days, that the flights can take (bookable, enough seats)."""
    if reservation["status"] != "active":
        return []
    travellers = len(reservation["passengers"])
    current = tuple((s["flight_number"], s["date"]) for s in reservation["flights"])
    options: list[FlightChange] = []
    for cabin in CABINS:
        if cabin != reservation["cabin"] and all(_seats(flights, n, d, cabin) >= travellers for n, d in current):
            options.append(FlightChange(cabin, current))
    if reservation["cabin"] == "basic_economy":
        return options
    split = _outbound_length(reservation)
    portions = [range(len(current))]
    if reservation["flight_type"] == "round_trip" and split < len(current):
        portions += [range(split), range(split, len(current))]
    flown = {i for i, status in enumerate(segment_statuses(flights, reservation)) if status in FLOWN_STATUSES}
    for portion in portions:
        if flown.intersection(portion):
            continue  # a flight already flown cannot be moved
        for shift in DATE_SHIFTS:
            moved = tuple((n, shift_date(d, shift)) if i in portion else (n, d) for i, (n, d) in enumerate(current))
            if split < len(moved) and moved[split - 1][1] >= moved[split][1]:
                continue  # the trip back would leave before (or the day) the trip out arrives
            if all(_seats(flights, n, d, reservation["cabin"]) >= travellers
                   for i, (n, d) in enumerate(moved) if i in portion):
                options.append(FlightChange(reservation["cabin"], moved))
    return options


def supports(tool: str, flights: FlightLookup, user: Mapping[str, Any], reservation: Mapping[str, Any]) -> bool:
    """Whether the policy allows `tool` on this reservation of this user right now."""
    if reservation["status"] != "active":
        return False
    if tool == "send_certificate":
        return compensation_limit(flights, user, reservation) > 0
    if tool == "update_reservation_flights":
        return bool(flight_change_options(flights, reservation))
    if has_flown_segment(flights, reservation):
        return False
    if tool == "cancel_reservation":
        return bool(cancellation_grounds(flights, reservation, best_cancellation_reason(flights, reservation)))
    return tool in ("update_reservation_baggages", "update_reservation_passengers")


def best_cancellation_reason(flights: FlightLookup, reservation: Mapping[str, Any]) -> str:
    """The reason a user with this reservation would truthfully give (one insurance covers when insured)."""
    if disruption(flights, reservation) == "cancelled":
        return "airline_cancelled_flight"
    if reservation["insurance"] == "yes":
        return "health"
    return "change_of_plan"


def assign_reservations(tools: list[str], candidates: Mapping[str, list[str]]) -> dict[int, str] | None:
    """A distinct reservation for each reservation-changing tool (positions in `tools`), or None.
    Certificates only read their reservation, so they may share one."""
    assignment: dict[int, str] = {}

    def place(position: int, used: frozenset[str]) -> bool:
        if position == len(tools):
            return True
        tool = tools[position]
        if tool not in RESERVATION_WRITE_TOOLS and tool != "send_certificate":
            return place(position + 1, used)
        for reservation_id in candidates.get(tool, []):
            if tool == "send_certificate" or reservation_id not in used:
                assignment[position] = reservation_id
                taken = used if tool == "send_certificate" else used | {reservation_id}
                if place(position + 1, taken):
                    return True
        assignment.pop(position, None)
        return False

    return assignment if place(0, frozenset()) else None
