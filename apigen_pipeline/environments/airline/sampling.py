"""Domain-data sampling for task contexts, and grounded ground-truth proposals for the offline generator.

`sample_domain_data` draws users at random until one supports every requested write tool (rejection
sampling keeps the cost per sample independent of the database size); the few lookup lists it needs
are cached per database state. `propose_actions` then plans a policy-compliant action list from the
sample alone, tracking balances and seats as its own writes use them up.
"""

from __future__ import annotations

import marshal
import random
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apigen_pipeline.environments.airline.planning import (
    DATE_SHIFTS,
    RESERVATION_WRITE_TOOLS,
    FlightChange,
    assign_reservations,
    best_cancellation_reason,
    flight_change_options,
    supports,
)
from apigen_pipeline.environments.airline.rules import (
    CABINS,
    CHECKED_BAG_FEE,
    INSURANCE_FEE_PER_PASSENGER,
    MAX_PASSENGERS,
    SCHEDULE_DATES,
    TODAY,
    FlightLookup,
    cents,
    compensation_limit,
    expected_nonfree_bags,
    money,
    shift_date,
)
from apigen_pipeline.environments.airline.vocabulary import FIRST_NAMES, LAST_NAMES
from apigen_pipeline.environments.base import DomainSample, ToolCall
from apigen_pipeline.environments.database import Database, Record

MAX_USER_DRAWS = 300
_FLIGHT_FIELDS = ("flight_number", "origin", "destination", "scheduled_departure_time_est",
                  "scheduled_arrival_time_est")


@dataclass
class _StateIndex:
    user_ids: list[str]
    flight_numbers: list[str]
    routes: dict[tuple[str, str], list[str]]
    departures: dict[str, list[str]]
    # (user_id, write tools) -> whether that user supports them; filled lazily as users are drawn.
    fits: dict[tuple[str, tuple[str, ...]], bool] = field(default_factory=dict)


_INDEXES: OrderedDict[str, _StateIndex] = OrderedDict()


def _index(db: Database) -> _StateIndex:
    key = db.state_hash()
    index = _INDEXES.get(key)
    if index is None:
        routes: dict[tuple[str, str], list[str]] = {}
        departures: dict[str, list[str]] = {}
        for number, flight in db.records("flights"):
            routes.setdefault((flight["origin"], flight["destination"]), []).append(number)
            departures.setdefault(flight["origin"], []).append(number)
        index = _StateIndex(list(db.ids("users")), list(db.ids("flights")), routes, departures)
        _INDEXES[key] = index
        while len(_INDEXES) > 4:
            _INDEXES.popitem(last=False)
    return index


# -- sampling -----------------------------------------------------------------------------------------
def _candidates(db: Database, user: Record, tools: Sequence[str]) -> dict[str, list[str]]:
    flights: FlightLookup = lambda number: db.get("flights", number)  # noqa: E731
    reservations = [db.get("reservations", rid) for rid in user.get("reservations") or []]
    return {tool: [r["reservation_id"] for r in reservations if r and supports(tool, flights, user, r)]
            for tool in dict.fromkeys(tools) if tool in RESERVATION_WRITE_TOOLS or tool == "send_certificate"}


# Tasks that may charge the user are drawn among credit card holders, so a fee can always be paid.
_CHARGING_TOOLS = frozenset({"book_reservation", "update_reservation_flights", "update_reservation_baggages"})


def _fits(db: Database, user: Record, tools: list[str]) -> bool:
    if _CHARGING_TOOLS.intersection(tools) and not _has_credit_card(user):
        return False
    if tools.count("send_certificate") > 1:
        return False
    return assign_reservations(tools, _candidates(db, user, tools)) is not None


def _has_credit_card(user: Mapping[str, Any]) -> bool:
    return any(m.get("source") == "credit_card" for m in (user.get("payment_methods") or {}).values())


def sample_domain_data(db: Database, rng: random.Random, write_tools: Sequence[str]) -> DomainSample:
    index = _index(db)
    tools = list(write_tools)
    key = tuple(tools)

    def fits(user_id: str) -> bool:
        known = index.fits.get((user_id, key))
        if known is None:
            known = index.fits[(user_id, key)] = _fits(db, _with_id(user_id, db.get("users", user_id)), tools)
        return known

    chosen = next((uid for uid in (rng.choice(index.user_ids) for _ in range(MAX_USER_DRAWS)) if fits(uid)), None)
    if chosen is None:  # rare combinations: scan in a random order before giving up on the tools
        order = list(index.user_ids)
        rng.shuffle(order)
        chosen = next((uid for uid in order if fits(uid)), rng.choice(index.user_ids))
    record = db.get("users", chosen)
    assert record is not None
    user = _with_id(chosen, record)

    # The records the task can involve: the reservations a sampled write can act on (all of them when no
    # write acts on one) and their flights.
    candidates = _candidates(db, user, tools)
    involved = {rid for rids in candidates.values() for rid in rids}
    reservations = {rid: r for rid in user.get("reservations") or []
                    if (not candidates or rid in involved) and (r := db.get("reservations", rid)) is not None}
    wanted_dates: dict[str, set[str]] = {}
    # Alternative dates are shown only for reservations whose flights can actually be changed.
    changeable = set(candidates.get("update_reservation_flights", ()))
    for reservation_id, reservation in reservations.items():
        shifts = DATE_SHIFTS if reservation_id in changeable else ()
        for segment in reservation["flights"]:
            dates = wanted_dates.setdefault(segment["flight_number"], set())
            dates.add(segment["date"])
            dates.update(shift_date(segment["date"], shift) for shift in shifts)
    if "book_reservation" in tools:
        _add_booking_offers(db, rng, index, user, wanted_dates)
    flights = {}
    for number in sorted(wanted_dates):
        flight = db.get("flights", number)
        if flight is not None:
            flights[number] = {**{f: flight[f] for f in _FLIGHT_FIELDS},
                               "dates": {d: flight["dates"][d] for d in sorted(wanted_dates[number])
                                         if d in flight["dates"]}}
    # A marshal round trip (the fastest deep copy of JSON-like data) detaches the sample from the seed.
    # The user id is the record's key: a user record need not repeat it as a field.
    records = marshal.loads(marshal.dumps({"users": {chosen: record}, "reservations": reservations,
                                       "flights": flights}))
    return DomainSample(user_id=chosen, records=records, identity={"user_id": chosen})


def _with_id(user_id: str, user: Record | None) -> Record:
    """The user record with its id: the record's key, which a record from elsewhere need not repeat."""
    assert user is not None
    return user if "user_id" in user else {**user, "user_id": user_id}


def _add_booking_offers(db: Database, rng: random.Random, index: _StateIndex, user: Record,
                        wanted_dates: dict[str, set[str]]) -> None:
    """A bookable outbound flight (from the user's home city when it has departures) and the flights back."""
    home = [code for code, airport in db.records("airports")
            if airport.get("city") == (user.get("address") or {}).get("city") and code in index.departures]
    future_days = [d for d in SCHEDULE_DATES if d > TODAY]
    for attempt in range(40):
        pool = index.departures[rng.choice(home)] if home and attempt < 20 else index.flight_numbers
        number = rng.choice(pool)
        flight = db.get("flights", number)
        day = rng.choice(future_days[:-1])
        entry = flight["dates"].get(day) if flight else None
        if entry is None or entry["status"] != "available" or not any(entry["available_seats"].values()):
            continue
        wanted_dates.setdefault(number, set()).add(day)
        back_days = [shift_date(day, gap) for gap in range(1, 6)]
        for back in index.routes.get((flight["destination"], flight["origin"]), []):
            wanted_dates.setdefault(back, set()).update(d for d in back_days if d in future_days)
        return


# -- proposing ------------------------------------------------------------------------------------------
@dataclass
class _Ledger:
    """What the proposed writes have used up so far: gift card / certificate balances and seats."""

    balances: dict[str, int]
    sources: dict[str, str]
    seats_taken: dict[tuple[str, str, str], int] = field(default_factory=dict)

    @classmethod
    def of(cls, user: Mapping[str, Any]) -> _Ledger:
        methods = user["payment_methods"]
        return cls({pid: cents(m["amount"]) for pid, m in methods.items() if "amount" in m},
                   {pid: m["source"] for pid, m in methods.items()})

    def can_pay(self, payment_id: str, amount_cents: int) -> bool:
        if self.sources.get(payment_id) == "credit_card":
            return True
        return payment_id in self.balances and self.balances[payment_id] >= amount_cents

    def charge(self, payment_id: str, amount_cents: int) -> None:
        if self.sources[payment_id] == "certificate":
            del self.balances[payment_id]
            del self.sources[payment_id]
        elif self.sources[payment_id] == "gift_card":
            self.balances[payment_id] -= amount_cents

    def seats_left(self, flights: FlightLookup, number: str, day: str, cabin: str) -> int:
        flight = flights(number)
        entry = flight["dates"].get(day) if flight else None
        if entry is None or entry["status"] != "available":
            return 0
        return entry["available_seats"][cabin] - self.seats_taken.get((number, day, cabin), 0)

    def take_seats(self, segments: Sequence[tuple[str, str]], cabin: str, count: int) -> None:
        for number, day in segments:
            self.seats_taken[(number, day, cabin)] = self.seats_taken.get((number, day, cabin), 0) + count


def _price_cents(flights: FlightLookup, number: str, day: str, cabin: str) -> int:
    return cents(flights(number)["dates"][day]["prices"][cabin])


def _change_payment(ledger: _Ledger, rng: random.Random, charge_cents: int) -> str | None:
    options = [pid for pid, source in ledger.sources.items()
               if source in ("credit_card", "gift_card") and (charge_cents <= 0 or ledger.can_pay(pid, charge_cents))]
    return rng.choice(sorted(options)) if options else None


def propose_actions(sample: DomainSample, write_tools: Sequence[str], rng: random.Random) -> list[ToolCall] | None:
    user = _with_id(sample.user_id, sample.records["users"][sample.user_id])
    reservations: Mapping[str, Record] = sample.records.get("reservations", {})
    flight_records: Mapping[str, Record] = sample.records.get("flights", {})
    flights: FlightLookup = flight_records.get
    tools = list(write_tools)
    candidates = {tool: [rid for rid in user.get("reservations") or []
                         if rid in reservations and supports(tool, flights, user, reservations[rid])]
                  for tool in dict.fromkeys(tools) if tool in RESERVATION_WRITE_TOOLS or tool == "send_certificate"}
    for options in candidates.values():
        rng.shuffle(options)
    if tools.count("send_certificate") > 1:
        return None
    assignment = assign_reservations(tools, candidates)
    if assignment is None:
        return None
    ledger = _Ledger.of(user)
    actions = [ToolCall("get_user_details", {"user_id": sample.user_id})]
    for position, tool in enumerate(tools):
        if tool == "book_reservation":
            planned = _plan_booking(user, flights, flight_records, ledger, rng)
        else:
            reservation = reservations[assignment[position]]
            planned = _plan_reservation_write(tool, user, reservation, flights, ledger, rng)
        if planned is None:
            return None
        actions.extend(planned)
    return actions


def _plan_reservation_write(tool: str, user: Record, reservation: Record, flights: FlightLookup,
                            ledger: _Ledger, rng: random.Random) -> list[ToolCall] | None:
    reservation_id = reservation["reservation_id"]
    lookup = ToolCall("get_reservation_details", {"reservation_id": reservation_id})
    travellers = len(reservation["passengers"])
    if tool == "cancel_reservation":
        reason = best_cancellation_reason(flights, reservation)
        if reason == "health" and rng.random() < 0.5:
            reason = "weather"
        return [lookup, ToolCall("cancel_reservation", {"reservation_id": reservation_id, "reason": reason})]
    if tool == "send_certificate":
        amount = compensation_limit(flights, user, reservation)
        return [lookup, ToolCall("send_certificate", {"user_id": user["user_id"], "amount": amount})]
    if tool == "update_reservation_baggages":
        total = reservation["total_baggages"] + rng.randint(1, 2)
        nonfree = expected_nonfree_bags(user["membership"], reservation["cabin"], travellers, total)
        fee = cents(CHECKED_BAG_FEE) * (nonfree - reservation["nonfree_baggages"])
        payment_id = _change_payment(ledger, rng, fee)
        if payment_id is None:
            return None
        ledger.charge(payment_id, fee)
        return [lookup, ToolCall("update_reservation_baggages", {
            "reservation_id": reservation_id, "total_baggages": total, "nonfree_baggages": nonfree,
            "payment_id": payment_id})]
    if tool == "update_reservation_passengers":
        passengers = [dict(p) for p in reservation["passengers"]]
        known = {(p["first_name"], p["last_name"]) for p in passengers}
        fresh = [p for p in user["saved_passengers"] if (p["first_name"], p["last_name"]) not in known]
        replacement = dict(rng.choice(fresh)) if fresh else {
            "first_name": rng.choice(FIRST_NAMES), "last_name": rng.choice(LAST_NAMES),
            "dob": f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}
        if replacement in passengers:
            return None
        passengers[rng.randrange(len(passengers))] = replacement
        return [lookup, ToolCall("update_reservation_passengers",
                                 {"reservation_id": reservation_id, "passengers": passengers})]
    if tool == "update_reservation_flights":
        return _plan_flight_change(reservation, flights, ledger, rng, lookup)
    return None


def _plan_flight_change(reservation: Record, flights: FlightLookup, ledger: _Ledger, rng: random.Random,
                        lookup: ToolCall) -> list[ToolCall] | None:
    travellers = len(reservation["passengers"])
    kept = {(s["flight_number"], s["date"]): s for s in reservation["flights"]}
    options: list[FlightChange] = []
    for option in flight_change_options(flights, reservation):
        new = [key for key in option.flights if not (key in kept and option.cabin == reservation["cabin"])]
        if all(ledger.seats_left(flights, n, d, option.cabin) >= travellers for n, d in new):
            options.append(option)
    if not options:
        return None
    rng.shuffle(options)
    for change in options:
        new_segments = [key for key in change.flights if not (key in kept and change.cabin == reservation["cabin"])]
        new_total = sum(cents(kept[key]["price"]) if key not in new_segments else
                        _price_cents(flights, key[0], key[1], change.cabin) for key in change.flights)
        difference = (new_total - sum(cents(s["price"]) for s in reservation["flights"])) * travellers
        payment_id = _change_payment(ledger, rng, difference)
        if payment_id is not None:
            break
    else:
        return None
    ledger.charge(payment_id, difference)
    ledger.take_seats(new_segments, change.cabin, travellers)
    calls = [lookup]
    if new_segments and change.cabin == reservation["cabin"]:
        first = flights(new_segments[0][0])
        calls.append(ToolCall("search_direct_flight", {"origin": first["origin"], "destination": first["destination"],
                                                        "date": new_segments[0][1]}))
    calls.append(ToolCall("update_reservation_flights", {
        "reservation_id": reservation["reservation_id"], "cabin": change.cabin,
        "flights": [{"flight_number": n, "date": d} for n, d in change.flights], "payment_id": payment_id}))
    return calls


def _plan_booking(user: Record, flights: FlightLookup, flight_records: Mapping[str, Record], ledger: _Ledger,
                  rng: random.Random) -> list[ToolCall] | None:
    offers = [(number, day) for number, flight in sorted(flight_records.items())
              for day, entry in sorted(flight["dates"].items())
              if day > TODAY and entry["status"] == "available" and any(entry["available_seats"].values())]
    if not offers:
        return None
    outbound = rng.choice(offers)
    out_flight = flights(outbound[0])
    returns = [(number, day) for number, day in offers
               if day > outbound[1] and flights(number)["origin"] == out_flight["destination"]
               and flights(number)["destination"] == out_flight["origin"]]
    segments = [outbound]
    if returns and rng.random() < 0.5:
        segments.append(rng.choice(returns))
    cabins = [c for c in CABINS if all(ledger.seats_left(flights, n, d, c) >= 1 for n, d in segments)]
    if not cabins:
        return None
    cabin = rng.choice(cabins)
    room = min(ledger.seats_left(flights, n, d, cabin) for n, d in segments)
    people = [{**user["name"], "dob": user["dob"]}] + [dict(p) for p in user["saved_passengers"]]
    passengers = people[:rng.randint(1, min(len(people), room, 3, MAX_PASSENGERS))]
    travellers = len(passengers)
    insurance = rng.choice(["yes", "no"])
    total_bags = rng.randint(0, 2 * travellers)
    nonfree = expected_nonfree_bags(user["membership"], cabin, travellers, total_bags)
    total = (sum(_price_cents(flights, n, d, cabin) for n, d in segments) * travellers
             + (cents(INSURANCE_FEE_PER_PASSENGER) * travellers if insurance == "yes" else 0)
             + cents(CHECKED_BAG_FEE) * nonfree)
    payments = _booking_payments(ledger, rng, total)
    if payments is None:
        return None
    for payment_id, amount in payments:
        ledger.charge(payment_id, amount)
    ledger.take_seats(segments, cabin, travellers)
    return [
        ToolCall("search_direct_flight", {"origin": out_flight["origin"], "destination": out_flight["destination"],
                                          "date": outbound[1]}),
        ToolCall("book_reservation", {
            "user_id": user["user_id"], "origin": out_flight["origin"], "destination": out_flight["destination"],
            "flight_type": "round_trip" if len(segments) > 1 else "one_way", "cabin": cabin,
            "flights": [{"flight_number": n, "date": d} for n, d in segments], "passengers": passengers,
            "payment_methods": [{"payment_id": pid, "amount": money(amount)} for pid, amount in payments],
            "total_baggages": total_bags, "nonfree_baggages": nonfree, "insurance": insurance}),
    ]


def _booking_payments(ledger: _Ledger, rng: random.Random, total: int) -> list[tuple[str, int]] | None:
    """One credit card, or one gift card that covers it, optionally after one certificate."""
    certificates = sorted(pid for pid, s in ledger.sources.items() if s == "certificate")
    plans: list[list[tuple[str, int]]] = []
    for certificate in ([None] + certificates[:1]):
        rest = total
        head: list[tuple[str, int]] = []
        if certificate is not None:
            used = min(ledger.balances[certificate], total)
            head, rest = [(certificate, used)], total - used
        if rest == 0:
            plans.append(head)
            continue
        for pid, source in sorted(ledger.sources.items()):
            if source in ("credit_card", "gift_card") and ledger.can_pay(pid, rest):
                plans.append(head + [(pid, rest)])
    return rng.choice(plans) if plans else None
