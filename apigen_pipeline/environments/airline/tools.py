"""The airline's tools: read tools return stored records as they are (the Environment serializes
them), write tools validate everything first and only then mutate through `get_for_update`.

Tools enforce facts (ids exist, seats, balances, flight bookable on the date, payment ownership);
business rules an agent must apply itself (refund eligibility, bag allowance, ...) are left to the
policy checks, as in the method notes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from apigen_pipeline.environments.airline.rules import (
    CABINS,
    CANCELLATION_REASONS,
    CHECKED_BAG_FEE,
    FLIGHT_TYPES,
    INSURANCE_FEE_PER_PASSENGER,
    MIN_CONNECTION_MINUTES,
    NOW,
    cents,
    clock_minutes,
    money,
    shift_date,
)
from apigen_pipeline.environments.base import Tool, ToolError, ToolSpec
from apigen_pipeline.environments.common_tools import calculate, think, transfer_to_human_agents
from apigen_pipeline.environments.database import Database, Record, canonical_json

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
AIRPORT_PATTERN = r"^[A-Z]{3}$"


# -- shared lookups -------------------------------------------------------------------------------
def _require(db: Database, table: str, record_id: str, label: str) -> Record:
    record = db.get(table, record_id)
    if record is None:
        raise ToolError(f"{label} '{record_id}' not found")
    return record


def _active_reservation(db: Database, reservation_id: str) -> Record:
    reservation = _require(db, "reservations", reservation_id, "reservation")
    if reservation["status"] != "active":
        raise ToolError(f"reservation {reservation_id} is {reservation['status']}")
    return reservation


def _bookable_entry(db: Database, flight_number: str, flight_date: str, cabin: str, seats: int) -> tuple[Record, Record]:
    flight = _require(db, "flights", flight_number, "flight")
    entry = flight["dates"].get(flight_date)
    if entry is None:
        raise ToolError(f"flight {flight_number} does not operate on {flight_date}")
    if entry["status"] != "available":
        raise ToolError(f"flight {flight_number} on {flight_date} is {entry['status']} and cannot be booked")
    if entry["available_seats"][cabin] < seats:
        raise ToolError(f"flight {flight_number} on {flight_date} has {entry['available_seats'][cabin]} "
                        f"{cabin} seat(s) left, {seats} needed")
    return flight, entry


def _change_payment_method(user: Record, payment_id: str) -> Record:
    method = user["payment_methods"].get(payment_id)
    if method is None:
        raise ToolError(f"payment method '{payment_id}' does not belong to user {user['user_id']}")
    if method["source"] == "certificate":
        raise ToolError("a travel certificate can only be used when booking; use a credit card or gift card")
    return method


def _check_balance(method: Record, amount_cents: int) -> None:
    if method["source"] in ("gift_card", "certificate") and cents(method["amount"]) < amount_cents:
        raise ToolError(f"{method['id']} has a balance of {method['amount']:.2f}, "
                        f"not enough for {money(amount_cents):.2f}")


def _adjust_seats(db: Database, flight_number: str, flight_date: str, cabin: str, delta: int) -> None:
    """Seat counts only exist while a flight is bookable; for flown or disrupted dates there is nothing to adjust."""
    current = db.get("flights", flight_number)
    if current is None or "available_seats" not in current["dates"].get(flight_date, {}):
        return
    flight = db.get_for_update("flights", flight_number)
    flight["dates"][flight_date]["available_seats"][cabin] += delta


def _adjust_balance(db: Database, user_id: str, payment_id: str, charge_cents: int) -> None:
    user = db.get_for_update("users", user_id)
    method = user["payment_methods"][payment_id]
    if method["source"] == "gift_card":
        method["amount"] = money(cents(method["amount"]) - charge_cents)


def _short_id(seed_text: str, alphabet: str, length: int, taken: Callable[[str], bool]) -> str:
    """Ids for new records are derived from the call and the state, so a replay makes the same ids."""
    attempt = 0
    while True:
        digest = hashlib.sha256(f"{seed_text}|{attempt}".encode()).digest()
        candidate = "".join(alphabet[byte % len(alphabet)] for byte in digest[:length])
        if not taken(candidate):
            return candidate
        attempt += 1


# -- read tools -----------------------------------------------------------------------------------
def get_user_details(db: Database, user_id: str) -> Record:
    return _require(db, "users", user_id, "user")


def get_reservation_details(db: Database, reservation_id: str) -> Record:
    return _require(db, "reservations", reservation_id, "reservation")


def list_all_airports(db: Database) -> list[Record]:
    return [record for _, record in db.records("airports")]


def _offer(flight: Record, flight_date: str, entry: Record) -> Record:
    """A flight on one date: its schedule plus that date's status (and seats and prices when bookable)."""
    return {**{field: flight[field] for field in _SCHEDULE_FIELDS}, "date": flight_date, **entry}


_SCHEDULE_FIELDS = ("flight_number", "origin", "destination", "scheduled_departure_time_est",
                    "scheduled_arrival_time_est")


def _check_airports(db: Database, *codes: str) -> None:
    for code in codes:
        _require(db, "airports", code, "airport")
    if len(set(codes)) < len(codes):
        raise ToolError("origin and destination must differ")


def search_direct_flight(db: Database, origin: str, destination: str, date: str) -> list[Record]:
    _check_airports(db, origin, destination)
    offers = []
    for _, flight in db.records("flights"):
        if flight["origin"] == origin and flight["destination"] == destination:
            entry = flight["dates"].get(date)
            if entry is not None:  # every status is shown, so delays and cancellations can be confirmed
                offers.append(_offer(flight, date, entry))
    offers.sort(key=lambda o: o["scheduled_departure_time_est"])
    return offers


def search_onestop_flight(db: Database, origin: str, destination: str, date: str) -> list[list[Record]]:
    _check_airports(db, origin, destination)
    first_legs: list[Record] = []
    second_legs_by_origin: dict[str, list[Record]] = {}
    for _, flight in db.records("flights"):
        if flight["origin"] == origin and flight["destination"] != destination:
            first_legs.append(flight)
        elif flight["destination"] == destination and flight["origin"] != origin:
            second_legs_by_origin.setdefault(flight["origin"], []).append(flight)
    itineraries: list[list[Record]] = []
    for first in first_legs:
        entry = first["dates"].get(date)
        if entry is None or entry["status"] != "available":
            continue
        landing = clock_minutes(first["scheduled_arrival_time_est"])
        second_date = shift_date(date, landing // 1440)
        for second in second_legs_by_origin.get(first["destination"], []):
            second_entry = second["dates"].get(second_date)
            if second_entry is None or second_entry["status"] != "available":
                continue
            if clock_minutes(second["scheduled_departure_time_est"]) >= landing % 1440 + MIN_CONNECTION_MINUTES:
                itineraries.append([_offer(first, date, entry), _offer(second, second_date, second_entry)])
    itineraries.sort(key=lambda pair: (pair[0]["scheduled_departure_time_est"], pair[1]["scheduled_arrival_time_est"]))
    return itineraries


# -- write tools ----------------------------------------------------------------------------------
def book_reservation(db: Database, user_id: str, origin: str, destination: str, flight_type: str, cabin: str,
                     flights: list[dict[str, str]], passengers: list[dict[str, str]],
                     payment_methods: list[dict[str, Any]], total_baggages: int, nonfree_baggages: int,
                     insurance: str) -> Record:
    user = _require(db, "users", user_id, "user")
    _check_airports(db, origin, destination)
    total_baggages, nonfree_baggages = int(total_baggages), int(nonfree_baggages)
    if nonfree_baggages > total_baggages:
        raise ToolError("nonfree_baggages cannot exceed total_baggages")
    seen_segments: set[tuple[str, str]] = set()
    segments: list[Record] = []
    for requested in flights:
        key = (requested["flight_number"], requested["date"])
        if key in seen_segments:
            raise ToolError(f"flight {key[0]} on {key[1]} is listed twice")
        seen_segments.add(key)
        flight, entry = _bookable_entry(db, key[0], key[1], cabin, len(passengers))
        segments.append({"flight_number": key[0], "origin": flight["origin"], "destination": flight["destination"],
                         "date": key[1], "price": entry["prices"][cabin]})
    total_cents = (sum(cents(s["price"]) for s in segments) * len(passengers)
                   + (cents(INSURANCE_FEE_PER_PASSENGER) * len(passengers) if insurance == "yes" else 0)
                   + cents(CHECKED_BAG_FEE) * nonfree_baggages)
    payments: list[dict[str, Any]] = []
    for payment in payment_methods:
        method = user["payment_methods"].get(payment["payment_id"])
        if method is None:
            raise ToolError(f"payment method '{payment['payment_id']}' does not belong to user {user_id}")
        if any(p["payment_id"] == payment["payment_id"] for p in payments):
            raise ToolError(f"payment method '{payment['payment_id']}' is listed twice")
        _check_balance(method, cents(payment["amount"]))
        payments.append({"payment_id": payment["payment_id"], "amount": money(cents(payment["amount"]))})
    paid_cents = sum(cents(p["amount"]) for p in payments)
    if paid_cents != total_cents:
        raise ToolError(f"payments add up to {money(paid_cents):.2f} but the reservation costs {money(total_cents):.2f}")

    reservation_id = _short_id(f"{user_id}|{len(user['reservations'])}|{canonical_json(flights)}",
                               "ABCDEFGHIJKLMNPQRSTUVWXYZ0123456789", 6,
                               lambda candidate: db.get("reservations", candidate) is not None)
    user = db.get_for_update("users", user_id)
    for payment in payments:
        method = user["payment_methods"][payment["payment_id"]]
        if method["source"] == "certificate":
            del user["payment_methods"][payment["payment_id"]]  # what is left on a certificate is forfeited
        elif method["source"] == "gift_card":
            method["amount"] = money(cents(method["amount"]) - cents(payment["amount"]))
    user["reservations"].append(reservation_id)
    for segment in segments:
        _adjust_seats(db, segment["flight_number"], segment["date"], cabin, -len(passengers))
    reservation = {
        "reservation_id": reservation_id, "user_id": user_id, "origin": origin, "destination": destination,
        "flight_type": flight_type, "cabin": cabin, "flights": segments,
        "passengers": [dict(p) for p in passengers], "payment_history": payments, "created_at": NOW,
        "total_baggages": total_baggages, "nonfree_baggages": nonfree_baggages, "insurance": insurance,
        "status": "active",
    }
    db.insert("reservations", reservation_id, reservation)
    return reservation


def cancel_reservation(db: Database, reservation_id: str, reason: str) -> Record:
    _active_reservation(db, reservation_id)
    reservation = db.get_for_update("reservations", reservation_id)
    net_paid: dict[str, int] = {}
    for payment in reservation["payment_history"]:
        net_paid[payment["payment_id"]] = net_paid.get(payment["payment_id"], 0) + cents(payment["amount"])
    reservation["payment_history"].extend(
        {"payment_id": payment_id, "amount": money(-paid)} for payment_id, paid in net_paid.items() if paid > 0)
    reservation["status"] = "cancelled"
    for segment in reservation["flights"]:
        _adjust_seats(db, segment["flight_number"], segment["date"], reservation["cabin"],
                      len(reservation["passengers"]))
    return reservation


def update_reservation_flights(db: Database, reservation_id: str, cabin: str, flights: list[dict[str, str]],
                               payment_id: str) -> Record:
    current = _active_reservation(db, reservation_id)
    user = _require(db, "users", current["user_id"], "user")
    method = _change_payment_method(user, payment_id)
    travellers = len(current["passengers"])
    existing = {(s["flight_number"], s["date"]): s for s in current["flights"]}
    seen: set[tuple[str, str]] = set()
    segments: list[Record] = []
    for requested in flights:
        key = (requested["flight_number"], requested["date"])
        if key in seen:
            raise ToolError(f"flight {key[0]} on {key[1]} is listed twice")
        seen.add(key)
        if key in existing and cabin == current["cabin"]:
            segments.append(dict(existing[key]))  # an unchanged segment keeps the price it was bought at
            continue
        flight, entry = _bookable_entry(db, key[0], key[1], cabin, travellers)
        segments.append({"flight_number": key[0], "origin": flight["origin"], "destination": flight["destination"],
                         "date": key[1], "price": entry["prices"][cabin]})
    if cabin == current["cabin"] and seen == set(existing) and len(flights) == len(existing):
        raise ToolError("the requested flights and cabin are the same as the current ones")
    difference = (sum(cents(s["price"]) for s in segments) - sum(cents(s["price"]) for s in current["flights"])) \
        * travellers
    if difference > 0:
        _check_balance(method, difference)

    kept = {key for key in seen if key in existing and cabin == current["cabin"]}
    for key in existing:
        if key not in kept:
            _adjust_seats(db, key[0], key[1], current["cabin"], travellers)
    for key in seen:
        if key not in kept:
            _adjust_seats(db, key[0], key[1], cabin, -travellers)
    reservation = db.get_for_update("reservations", reservation_id)
    reservation["flights"] = segments
    reservation["cabin"] = cabin
    if difference:
        reservation["payment_history"].append({"payment_id": payment_id, "amount": money(difference)})
        _adjust_balance(db, current["user_id"], payment_id, difference)
    return reservation


def update_reservation_baggages(db: Database, reservation_id: str, total_baggages: int, nonfree_baggages: int,
                                payment_id: str) -> Record:
    current = _active_reservation(db, reservation_id)
    total_baggages, nonfree_baggages = int(total_baggages), int(nonfree_baggages)
    if nonfree_baggages > total_baggages:
        raise ToolError("nonfree_baggages cannot exceed total_baggages")
    if total_baggages == current["total_baggages"] and nonfree_baggages == current["nonfree_baggages"]:
        raise ToolError("the requested baggage counts are the same as the current ones")
    user = _require(db, "users", current["user_id"], "user")
    method = _change_payment_method(user, payment_id)
    fee = cents(CHECKED_BAG_FEE) * (nonfree_baggages - current["nonfree_baggages"])
    if fee > 0:
        _check_balance(method, fee)
    reservation = db.get_for_update("reservations", reservation_id)
    reservation["total_baggages"] = total_baggages
    reservation["nonfree_baggages"] = nonfree_baggages
    if fee:
        reservation["payment_history"].append({"payment_id": payment_id, "amount": money(fee)})
        _adjust_balance(db, current["user_id"], payment_id, fee)
    return reservation


def update_reservation_passengers(db: Database, reservation_id: str, passengers: list[dict[str, str]]) -> Record:
    current = _active_reservation(db, reservation_id)
    if [dict(p) for p in passengers] == current["passengers"]:
        raise ToolError("the requested passengers are the same as the current ones")
    reservation = db.get_for_update("reservations", reservation_id)
    reservation["passengers"] = [dict(p) for p in passengers]
    return reservation


def send_certificate(db: Database, user_id: str, amount: float) -> str:
    user = _require(db, "users", user_id, "user")
    amount_cents = cents(amount)
    if amount_cents <= 0:
        raise ToolError("the certificate amount must be at least 0.01")
    certificate_id = "certificate_" + _short_id(f"{user_id}|{amount_cents}|{len(user['payment_methods'])}",
                                                "0123456789", 7,
                                                lambda candidate: f"certificate_{candidate}" in user["payment_methods"])
    user = db.get_for_update("users", user_id)
    user["payment_methods"][certificate_id] = {"source": "certificate", "id": certificate_id,
                                               "amount": money(amount_cents)}
    return f"Certificate {certificate_id} worth {money(amount_cents):.2f} was added to user {user_id}."


# -- specs ----------------------------------------------------------------------------------------
def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, "additionalProperties": False}


_STRING = {"type": "string", "minLength": 1}
_USER_ID = {"type": "string", "minLength": 1, "description": "The user's id, e.g. 'sara_doe_1234'."}
_RESERVATION_ID = {"type": "string", "minLength": 1, "description": "The 6-character reservation id, e.g. 'ZFA04Y'."}
_DATE = {"type": "string", "pattern": DATE_PATTERN, "description": "A date as YYYY-MM-DD."}
_AIRPORT = {"type": "string", "pattern": AIRPORT_PATTERN, "description": "IATA airport code, e.g. 'JFK'."}
_CABIN = {"type": "string", "enum": list(CABINS)}
_PAYMENT_ID = {"type": "string", "minLength": 1,
               "description": "A payment method id from the user's profile, e.g. 'credit_card_7815826'."}
_FLIGHTS = {"type": "array", "minItems": 1,
            "description": "Every flight segment of the itinerary, in travel order.",
            "items": _object({"flight_number": {"type": "string", "minLength": 1,
                                                "description": "e.g. 'HZN021'"},
                              "date": _DATE})}
_PASSENGERS = {"type": "array", "minItems": 1,
               "items": _object({"first_name": _STRING, "last_name": _STRING,
                                 "dob": {"type": "string", "pattern": DATE_PATTERN,
                                         "description": "Date of birth as YYYY-MM-DD."}})}
_BAGS = {"type": "integer", "minimum": 0}


def _spec(name: str, description: str, kind: str, properties: dict[str, Any], returns: list[str],
          utterance: str | None = None) -> ToolSpec:
    return ToolSpec(name=name, description=description, kind=kind, parameters=_object(properties),
                    returns=returns, utterance=utterance)


TOOLS: list[Tool] = [
    Tool(_spec("get_user_details", "Get a user's profile: name, membership, payment methods with balances, "
               "saved passengers and reservation ids.", "read", {"user_id": _USER_ID},
               ["user_id", "reservation_id", "payment_id", "first_name", "last_name", "dob"],
               "My user id is {user_id}."), get_user_details),
    Tool(_spec("get_reservation_details", "Get a reservation: route, trip type, cabin, flights with prices, "
               "passengers, payments, baggage, insurance and status.", "read",
               {"reservation_id": _RESERVATION_ID},
               ["reservation_id", "user_id", "flight_number", "date", "origin", "destination", "flight_type",
                "cabin", "first_name", "last_name", "dob", "payment_id", "total_baggages", "nonfree_baggages"],
               "Could you pull up my reservation {reservation_id}?"), get_reservation_details),
    Tool(_spec("list_all_airports", "List every airport the airline serves with its IATA code and city.",
               "read", {}, ["origin", "destination"], "Which airports do you fly to?"), list_all_airports),
    Tool(_spec("search_direct_flight", "Search direct flights between two airports on a date with their status "
               "that day; available (bookable) ones show seats left and prices per cabin, delayed ones the "
               "estimated times.", "read",
               {"origin": _AIRPORT, "destination": _AIRPORT, "date": _DATE},
               ["flight_number", "date", "origin", "destination", "cabin"],
               "Are there direct flights from {origin} to {destination} on {date}?"), search_direct_flight),
    Tool(_spec("search_onestop_flight", "Search bookable one-stop itineraries between two airports departing on "
               "a date (the second flight may leave the next day after an overnight arrival).", "read",
               {"origin": _AIRPORT, "destination": _AIRPORT, "date": _DATE},
               ["flight_number", "date", "origin", "destination", "cabin"],
               "What connecting flights do you have from {origin} to {destination} on {date}?"),
         search_onestop_flight),
    Tool(_spec("calculate", "Evaluate an arithmetic expression with numbers, + - * / and parentheses; the "
               "result is rounded to 2 decimals.", "read",
               {"expression": {"type": "string", "minLength": 1, "maxLength": 300,
                               "description": "e.g. '2 * (129.52 + 151.16) + 50'"}}, []), calculate),
    Tool(_spec("think", "Write down reasoning; it changes nothing and returns nothing.", "read",
               {"thought": {"type": "string"}}, []), think),
    Tool(_spec("transfer_to_human_agents", "Hand the conversation to a human agent, with a summary of the "
               "user's issue. Only when the request is outside what the policy lets you do.", "read",
               {"summary": {"type": "string", "minLength": 1}}, [],
               "I'd like to speak with a human agent, please."), transfer_to_human_agents),
    Tool(_spec("book_reservation", "Book a new reservation for the user. Prices are taken per passenger for "
               "every flight in the chosen cabin; insurance costs 30 per passenger and each non-free bag 50. "
               "The payments must add up to the total exactly.", "write",
               {"user_id": _USER_ID, "origin": _AIRPORT, "destination": _AIRPORT,
                "flight_type": {"type": "string", "enum": list(FLIGHT_TYPES)}, "cabin": _CABIN,
                "flights": _FLIGHTS, "passengers": _PASSENGERS,
                "payment_methods": {"type": "array", "minItems": 1,
                                    "items": _object({"payment_id": _PAYMENT_ID,
                                                      "amount": {"type": "number", "exclusiveMinimum": 0}})},
                "total_baggages": _BAGS, "nonfree_baggages": _BAGS,
                "insurance": {"type": "string", "enum": ["yes", "no"]}},
               ["reservation_id", "user_id", "flight_number", "date", "payment_id"],
               "I want to book a {flight_type} trip from {origin} to {destination} in {cabin} on {flights} for "
               "{passengers}, with {total_baggages} checked bags and insurance: {insurance}; I'll pay with "
               "{payment_methods}."), book_reservation),
    Tool(_spec("cancel_reservation", "Cancel a whole active reservation; every payment is refunded to its "
               "original method.", "write",
               {"reservation_id": _RESERVATION_ID,
                "reason": {"type": "string", "enum": list(CANCELLATION_REASONS),
                           "description": "Why the user cancels."}},
               ["reservation_id"],
               "I want to cancel reservation {reservation_id}; the reason is {reason}."), cancel_reservation),
    Tool(_spec("update_reservation_flights", "Replace the flights and/or cabin of an active reservation. Give "
               "every segment of the new itinerary, changed or not; unchanged segments keep their price. The "
               "fare difference for all passengers is charged to, or refunded to, the payment method (a credit "
               "card or gift card).", "write",
               {"reservation_id": _RESERVATION_ID, "cabin": _CABIN, "flights": _FLIGHTS, "payment_id": _PAYMENT_ID},
               ["reservation_id", "payment_id"],
               "Please change reservation {reservation_id} to {cabin} on these flights: {flights}; use {payment_id} "
               "for any difference."), update_reservation_flights),
    Tool(_spec("update_reservation_baggages", "Set the checked bag counts of an active reservation; the change "
               "in non-free bags is charged at 50 each to the payment method (a credit card or gift card).",
               "write",
               {"reservation_id": _RESERVATION_ID, "total_baggages": _BAGS, "nonfree_baggages": _BAGS,
                "payment_id": _PAYMENT_ID},
               ["reservation_id", "payment_id"],
               "I need {total_baggages} checked bags in total on reservation {reservation_id}; charge any fee to "
               "{payment_id}."), update_reservation_baggages),
    Tool(_spec("update_reservation_passengers", "Replace the passenger details of an active reservation (name "
               "and date of birth of every passenger, in order).", "write",
               {"reservation_id": _RESERVATION_ID, "passengers": _PASSENGERS},
               ["reservation_id"],
               "Please update the passengers on reservation {reservation_id} to {passengers}."),
         update_reservation_passengers),
    Tool(_spec("send_certificate", "Add a travel certificate of the given amount to the user's profile, as "
               "compensation.", "write",
               {"user_id": _USER_ID, "amount": {"type": "number", "exclusiveMinimum": 0,
                                               "description": "Amount in dollars."}},
               ["payment_id"],
               "Given the disruption to my trip, I'd like a {amount} dollar travel certificate as compensation."),
         send_certificate),
]
