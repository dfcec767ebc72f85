"""The airline policy: the text the agent reads (our wording) and the executable checks over
(state before, action trace, state after) for every rule the tools do not enforce themselves."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from apigen_pipeline.environments.airline.rules import (
    CHECKED_BAG_FEE,
    COMPENSATION_PER_PASSENGER,
    FLOWN_STATUSES,
    FREE_BAGS_PER_PASSENGER,
    INSURANCE_FEE_PER_PASSENGER,
    MAX_PASSENGERS,
    NOW,
    PAYMENT_MIX_LIMITS,
    cancellation_grounds,
    compensation_limit,
    expected_nonfree_bags,
    has_flown_segment,
    payment_source,
    route_problems,
    segment_statuses,
)
from apigen_pipeline.environments.base import (
    AUTHENTICATED_BEFORE_WRITE,
    SINGLE_USER,
    ExecutedCall,
    PolicyCheck,
    PolicySection,
)
from apigen_pipeline.environments.database import Database

RESERVATION_TOOLS = ("get_reservation_details", "cancel_reservation", "update_reservation_flights",
                     "update_reservation_baggages", "update_reservation_passengers")


def _bags_table() -> str:
    return "\n".join(f"- {membership} members: " + ", ".join(f"{bags} per {cabin.replace('_', ' ')} passenger"
                                                             for cabin, bags in allowance.items())
                     for membership, allowance in FREE_BAGS_PER_PASSENGER.items())


POLICY_SECTIONS: list[PolicySection] = [
    PolicySection("general", "Your role", (
        f"You are a reservations agent for Horizon Air. The current time is {NOW} Eastern Time; all flight times "
        "are Eastern Time.\n"
        "- Before you look at or change anything for a user, ask for their user id and load it with "
        "get_user_details. You serve one user per conversation: never look up, change or discuss another "
        "user's profile or reservations, even if asked.\n"
        "- Before any booking, change, cancellation or certificate, list what you are about to do with its "
        "amounts and wait for the user's explicit 'yes'.\n"
        "- Make one tool call at a time and do not reply to the user in the same turn as a tool call.\n"
        "- Only share facts that come from the user or from tool results; never invent flights, prices or "
        "policies, and never give subjective advice.\n"
        "- Transfer to a human agent only when the request cannot be handled within this policy.")),
    PolicySection("domain", "What you can look up", (
        "- A user has a membership level (regular, silver or gold), payment methods (credit cards, gift cards "
        "and travel certificates, the last two with a balance), saved passengers and reservation ids.\n"
        "- A reservation has a route, a trip type (one way or round trip), one cabin for all its flights (basic "
        "economy, economy or business), its flights with the price paid per passenger, its passengers, its "
        "payments, checked bags, travel insurance and a status.\n"
        "- Each flight runs daily; on each date it is available (bookable), delayed, cancelled, flying or "
        "landed. Only available flights can be booked. search_direct_flight shows every flight of a route on "
        "a date with its status, so use it to confirm a delay or cancellation."),
        ("get_user_details", "get_reservation_details", "list_all_airports", "search_direct_flight",
         "search_onestop_flight")),
    PolicySection("booking", "Booking a reservation", (
        "- Collect the trip type, origin, destination, flights, cabin, passengers and payment.\n"
        f"- A reservation has at most {MAX_PASSENGERS} passengers, each with first name, last name and date of "
        "birth; all of them fly the same flights in the same cabin.\n"
        "- Pay only with methods already on the user's profile, combining at most one travel certificate, one "
        "credit card and three gift cards. A certificate's unused remainder is forfeited.\n"
        f"- Free checked bags depend on the booking user's membership:\n{_bags_table()}\n"
        f"  Every extra bag costs {CHECKED_BAG_FEE} dollars; record exactly the bags above the free allowance "
        "as non-free bags. Do not add bags the user does not ask for.\n"
        f"- Offer travel insurance at {INSURANCE_FEE_PER_PASSENGER} dollars per passenger; it allows a full "
        "refund when the user cancels for health or weather reasons. It can only be bought at booking."),
        ("book_reservation", "search_direct_flight", "search_onestop_flight", "calculate")),
    PolicySection("change_flights", "Changing flights or cabin", (
        "- Basic economy flights cannot be changed. Any reservation, basic economy included, may change its "
        "cabin without changing its flights; the cabin stays the same across all flights.\n"
        "- Other reservations may change flights as long as the origin, the destination and the trip type stay "
        "the same. Flights already flown (flying or landed) stay as they are. Segments that are kept keep their "
        "original price; new segments are priced today.\n"
        "- Pass the complete new itinerary. The fare difference for all passengers is charged to, or refunded "
        "to, one credit card or gift card from the profile."),
        ("update_reservation_flights", "search_direct_flight", "search_onestop_flight", "calculate")),
    PolicySection("baggage", "Changing baggage and insurance", (
        "- Checked bags can be added to a reservation but never removed; non-free bags must follow the booking "
        f"allowance above and cost {CHECKED_BAG_FEE} dollars each, paid with a credit card or gift card.\n"
        "- Travel insurance cannot be added after booking."),
        ("update_reservation_baggages",)),
    PolicySection("passengers", "Changing passengers", (
        "- Passenger names and dates of birth may be corrected or replaced, but the number of passengers "
        "cannot change; to add or remove a traveller the user needs a new booking or a cancellation."),
        ("update_reservation_passengers",)),
    PolicySection("cancellation", "Cancelling a reservation", (
        "- Ask for the reservation id and the reason (change of plan, airline cancelled flight, health, weather "
        "or other).\n"
        "- If any flight of the reservation has already been flown (flying or landed), you cannot cancel it; "
        "transfer to a human agent.\n"
        "- A reservation can be cancelled when it was booked within the last 24 hours, when the airline "
        "cancelled one of its flights, when it is in business cabin, or when it has travel insurance and the "
        "reason is health or weather. Otherwise do not cancel it.\n"
        "- Refunds go back to the original payment methods within 5 to 7 business days."),
        ("cancel_reservation",)),
    PolicySection("compensation", "Compensation", (
        "- Never offer compensation unprompted. Only when a user complains and asks, and only for silver or gold "
        "members, insured reservations or business cabin reservations.\n"
        "- After confirming the facts: for a reservation with a flight cancelled by the airline, a travel "
        f"certificate of up to {COMPENSATION_PER_PASSENGER['cancelled']} dollars per passenger; for a delayed "
        "flight, when the user wants to change or cancel because of it, up to "
        f"{COMPENSATION_PER_PASSENGER['delayed']} dollars per passenger. At most one certificate per "
        "conversation; no compensation for any other reason."),
        ("send_certificate",)),
    PolicySection("transfer", "Transferring to a human", (
        "- To transfer, call transfer_to_human_agents with a short summary, then tell the user they are being "
        "transferred."),
        ("transfer_to_human_agents",)),
]


# -- helpers ----------------------------------------------------------------------------------------
def _reservation(before: Database, after: Database, reservation_id: Any) -> Mapping[str, Any] | None:
    if not isinstance(reservation_id, str):
        return None
    return before.get("reservations", reservation_id) or after.get("reservations", reservation_id)


def _user_concerned(before: Database, after: Database, call: ExecutedCall) -> str | None:
    """The user a call acts on or reveals, or None when it concerns no particular user."""
    if call.name in ("get_user_details", "book_reservation", "send_certificate"):
        user_id = call.arguments.get("user_id")
        return user_id if isinstance(user_id, str) else None
    if call.name in RESERVATION_TOOLS:
        reservation = _reservation(before, after, call.arguments.get("reservation_id"))
        return reservation["user_id"] if reservation else None
    return None


def _label(index: int, call: ExecutedCall) -> str:
    key = call.arguments.get("reservation_id") or call.arguments.get("user_id")
    return f"call #{index} {call.name}({key})" if key else f"call #{index} {call.name}"


def _successful(trace: Sequence[ExecutedCall], name: str) -> list[tuple[int, ExecutedCall]]:
    return [(index, call) for index, call in enumerate(trace) if call.name == name and call.ok]


def _flight_lookup(db: Database) -> Callable[[str], Mapping[str, Any] | None]:
    return lambda flight_number: db.get("flights", flight_number)


# -- checks -----------------------------------------------------------------------------------------
def authenticated_before_write(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    authenticated: set[str] = set()
    messages: list[str] = []
    for index, call in enumerate(trace):
        if call.name == "get_user_details" and call.ok:
            authenticated.add(call.arguments["user_id"])
        elif call.kind == "write":
            user_id = _user_concerned(before, after, call)
            if user_id is not None and user_id not in authenticated:
                messages.append(f"{_label(index, call)} acts for user {user_id} before get_user_details "
                                "authenticated that user")
    return messages


def one_user_per_task(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    first_user: str | None = None
    messages: list[str] = []
    for index, call in enumerate(trace):
        if not call.ok:
            continue  # a mistyped id that found nobody concerns no user
        user_id = _user_concerned(before, after, call)
        if user_id is None:
            continue
        if first_user is None:
            first_user = user_id
        elif user_id != first_user:
            messages.append(f"{_label(index, call)} concerns user {user_id}, but this task serves {first_user}")
    return messages


def cancellation_allowed(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    flights = _flight_lookup(before)
    for index, call in _successful(trace, "cancel_reservation"):
        reservation = before.get("reservations", call.arguments["reservation_id"])
        if reservation is None:
            continue  # booked in this same task, so within the 24-hour window
        if has_flown_segment(flights, reservation):
            messages.append(f"{_label(index, call)}: part of the trip has already been flown")
        elif not cancellation_grounds(flights, reservation, call.arguments.get("reason")):
            messages.append(f"{_label(index, call)}: not booked within 24 hours, no airline cancellation, not "
                            f"business, and insurance does not cover the reason '{call.arguments.get('reason')}'")
    return messages


def no_basic_economy_flight_change(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    for index, call in _successful(trace, "update_reservation_flights"):
        reservation = _reservation(before, after, call.arguments["reservation_id"])
        if reservation is None or before.get("reservations", reservation["reservation_id"]) is None:
            continue
        if reservation["cabin"] != "basic_economy":
            continue
        old = [(s["flight_number"], s["date"]) for s in reservation["flights"]]
        new = [(f["flight_number"], f["date"]) for f in call.arguments["flights"]]
        if old != new:
            messages.append(f"{_label(index, call)} changes the flights of a basic economy reservation")
    return messages


def _itinerary(after: Database, requested: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    segments = []
    for item in requested:
        flight = after.get("flights", item["flight_number"]) or {}
        segments.append({"flight_number": item["flight_number"], "date": item["date"],
                         "origin": flight.get("origin"), "destination": flight.get("destination")})
    return segments


def flight_change_keeps_route(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    for index, call in _successful(trace, "update_reservation_flights"):
        reservation = _reservation(before, after, call.arguments["reservation_id"])
        if reservation is None:
            continue
        problems = route_problems(_itinerary(after, call.arguments["flights"]), reservation["origin"],
                                  reservation["destination"], reservation["flight_type"])
        if problems:
            messages.append(f"{_label(index, call)} does not keep the {reservation['flight_type']} trip "
                            f"{reservation['origin']}-{reservation['destination']}: " + "; ".join(problems))
    return messages


def flown_flights_kept(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    flights = _flight_lookup(before)
    for index, call in _successful(trace, "update_reservation_flights"):
        reservation = before.get("reservations", call.arguments["reservation_id"])
        if reservation is None:
            continue
        requested = {(f["flight_number"], f["date"]) for f in call.arguments["flights"]}
        for segment, status in zip(reservation["flights"], segment_statuses(flights, reservation), strict=True):
            if status in FLOWN_STATUSES and (segment["flight_number"], segment["date"]) not in requested:
                messages.append(f"{_label(index, call)} replaces {segment['flight_number']} on {segment['date']}, "
                                f"which is already {status}")
    return messages


def booking_matches_route(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    for index, call in _successful(trace, "book_reservation"):
        arguments = call.arguments
        problems = route_problems(_itinerary(after, arguments["flights"]), arguments["origin"],
                                  arguments["destination"], arguments["flight_type"])
        if problems:
            messages.append(f"{_label(index, call)}: the flights are not a {arguments['flight_type']} trip "
                            f"{arguments['origin']}-{arguments['destination']}: " + "; ".join(problems))
    return messages


def bags_only_added(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    current: dict[str, int] = {}
    for index, call in _successful(trace, "update_reservation_baggages"):
        reservation_id = call.arguments["reservation_id"]
        reservation = _reservation(before, after, reservation_id)
        if reservation is None:
            continue
        previous = current.get(reservation_id, reservation["total_baggages"] if before.get(
            "reservations", reservation_id) else 0)
        if call.arguments["total_baggages"] < previous:
            messages.append(f"{_label(index, call)} lowers checked bags from {previous} to "
                            f"{call.arguments['total_baggages']}")
        current[reservation_id] = call.arguments["total_baggages"]
    return messages


def no_insurance_after_booking(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    # No built-in tool edits insurance; this guards the state itself, whatever tool (or plugin) changed it.
    messages: list[str] = []
    for table, reservation_id in sorted(after.touched()):
        if table != "reservations":
            continue
        old, new = before.get(table, reservation_id), after.get(table, reservation_id)
        if old is not None and new is not None and old["insurance"] != new["insurance"]:
            messages.append(f"reservation {reservation_id}: insurance changed from '{old['insurance']}' to "
                            f"'{new['insurance']}' after booking")
    return messages


def passenger_count_rules(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    for index, call in enumerate(trace):
        if not call.ok:
            continue
        if call.name == "book_reservation" and len(call.arguments["passengers"]) > MAX_PASSENGERS:
            messages.append(f"{_label(index, call)} books {len(call.arguments['passengers'])} passengers, "
                            f"more than {MAX_PASSENGERS}")
        if call.name == "update_reservation_passengers":
            reservation = before.get("reservations", call.arguments["reservation_id"])
            if reservation is not None and len(call.arguments["passengers"]) != len(reservation["passengers"]):
                messages.append(f"{_label(index, call)} changes the number of passengers from "
                                f"{len(reservation['passengers'])} to {len(call.arguments['passengers'])}")
    return messages


def payment_mix(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    for index, call in _successful(trace, "book_reservation"):
        user = before.get("users", call.arguments["user_id"]) or after.get("users", call.arguments["user_id"])
        counts: dict[str, int] = {}
        for payment in call.arguments["payment_methods"]:
            source = payment_source(payment["payment_id"], user) or "unknown"
            counts[source] = counts.get(source, 0) + 1
        excess = [f"{count} {source.replace('_', ' ')}s (at most {PAYMENT_MIX_LIMITS[source]})"
                  for source, count in sorted(counts.items())
                  if source in PAYMENT_MIX_LIMITS and count > PAYMENT_MIX_LIMITS[source]]
        if excess:
            messages.append(f"{_label(index, call)} pays with " + ", ".join(excess))
    return messages


def free_bag_allowance(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    for index, call in enumerate(trace):
        if not call.ok or call.name not in ("book_reservation", "update_reservation_baggages"):
            continue
        if call.name == "book_reservation":
            user_id, cabin = call.arguments["user_id"], call.arguments["cabin"]
            travellers = len(call.arguments["passengers"])
        else:
            reservation = _reservation(before, after, call.arguments["reservation_id"])
            if reservation is None:
                continue
            user_id, cabin, travellers = reservation["user_id"], reservation["cabin"], len(reservation["passengers"])
        user = before.get("users", user_id) or after.get("users", user_id)
        if user is None:
            continue
        expected = expected_nonfree_bags(user["membership"], cabin, travellers, call.arguments["total_baggages"])
        if call.arguments["nonfree_baggages"] != expected:
            messages.append(f"{_label(index, call)} records {call.arguments['nonfree_baggages']} non-free bags; a "
                            f"{user['membership']} member with {travellers} {cabin} passenger(s) and "
                            f"{call.arguments['total_baggages']} bags has {expected}")
    return messages


def compensation_rules(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    flights = _flight_lookup(before)
    certificates = _successful(trace, "send_certificate")
    for position, (index, call) in enumerate(certificates):
        user = before.get("users", call.arguments["user_id"])
        if user is None:
            continue
        if position > 0:
            messages.append(f"{_label(index, call)} is a second certificate in one conversation")
            continue
        limit = max((compensation_limit(flights, user, reservation) for reservation in
                     (before.get("reservations", rid) for rid in user["reservations"]) if reservation), default=0)
        if limit == 0:
            messages.append(f"{_label(index, call)}: user {user['user_id']} has no reservation that qualifies for "
                            "compensation (silver/gold, insured or business, affected by a cancelled or delayed "
                            "flight)")
        elif call.arguments["amount"] > limit:
            messages.append(f"{_label(index, call)} sends {call.arguments['amount']}, above the {limit} the "
                            "disruption allows")
    return messages


POLICY_CHECKS: list[PolicyCheck] = [
    PolicyCheck(AUTHENTICATED_BEFORE_WRITE, "get_user_details of the user precedes every write for that user",
                authenticated_before_write),
    PolicyCheck(SINGLE_USER, "all lookups and writes concern a single user", one_user_per_task),
    PolicyCheck("cancellation_allowed", "cancel only unflown reservations booked within 24 h, with an airline-"
                "cancelled flight, in business, or insured with a health/weather reason", cancellation_allowed),
    PolicyCheck("no_basic_economy_flight_change", "flights of basic economy reservations are never changed",
                no_basic_economy_flight_change),
    PolicyCheck("flight_change_keeps_route", "a flight change keeps origin, destination and trip type",
                flight_change_keeps_route),
    PolicyCheck("flown_flights_kept", "a flight change never replaces a flight already flying or landed",
                flown_flights_kept),
    PolicyCheck("booking_matches_route", "booked flights form the declared one-way or round trip",
                booking_matches_route),
    PolicyCheck("bags_only_added", "checked bags are never removed", bags_only_added),
    PolicyCheck("no_insurance_after_booking", "insurance of an existing reservation never changes",
                no_insurance_after_booking),
    PolicyCheck("passenger_count", "at most 5 passengers at booking; updates keep the passenger count",
                passenger_count_rules),
    PolicyCheck("payment_mix", "a booking uses at most one certificate, one credit card and three gift cards",
                payment_mix),
    PolicyCheck("free_bag_allowance", "non-free bags equal the bags above the membership x cabin allowance",
                free_bag_allowance),
    PolicyCheck("compensation_rules", "one certificate, only for an eligible disrupted reservation, within the "
                "per-passenger limit", compensation_rules),
]
