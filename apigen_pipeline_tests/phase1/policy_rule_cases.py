"""Blueprint pairs per policy rule of the built-in domains: one whose actions all execute on the seed-0
database but break exactly that rule, and a compliant neighbour that differs as little as possible.

Records are found by scanning the seeded database (the environment tests' finders), never by
hard-coded ids, so a change in the generator's draws keeps each case meaning the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apigen_pipeline.environments.airline import rules as airline_rules
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.database import Database
from apigen_pipeline.environments.retail.domain import charged_methods
from apigen_pipeline_tests.environments.airline.finders import (
    all_bookable,
    bookable_entry,
    credit_card,
    find_reservation,
    find_user,
    flights_of,
    method_of,
    user_of,
)
from apigen_pipeline_tests.environments.retail.conftest import first_order, swap_for

Record = Mapping[str, Any]
Call = tuple[str, dict[str, Any]]
Payload = dict[str, Any]


@dataclass(frozen=True)
class RuleBlueprints:
    """Raw blueprint payloads, as the generator would return them, for one rule."""

    violating: Payload
    compliant: Payload


CaseBuilder = Callable[[Environment], RuleBlueprints]


def blueprint(instruction: str, *calls: Call) -> Payload:
    return {"instruction": instruction, "actions": [{"name": name, "arguments": arguments}
                                                    for name, arguments in calls], "outputs": []}


# -- retail -------------------------------------------------------------------------------------------


def retail_login(user: Record) -> Call:
    return ("find_user_id_by_email", {"email": user["email"]})


def retail_cancel(order: Record, reason: str = "no longer needed") -> Call:
    return ("cancel_pending_order", {"order_id": order["order_id"], "reason": reason})


def retail_pending_pair(db: Database) -> tuple[Record, Record, Record]:
    """A pending order, its user, and a pending order of somebody else."""
    mine, me = first_order(db, lambda o, u: o["status"] == "pending")
    theirs, _ = first_order(db, lambda o, u: o["status"] == "pending" and u["user_id"] != me["user_id"])
    return mine, me, theirs


def retail_items_change(db: Database) -> tuple[Record, Record, dict[str, Any]]:
    """A pending order with a swappable item, its user, and items-change arguments that execute."""
    order, user = first_order(db, lambda o, u: o["status"] == "pending" and swap_for(db, o) is not None
                              and any(m["source"] != "gift_card" for m in u["payment_methods"].values()))
    swap = swap_for(db, order)
    assert swap is not None
    # A non-gift-card method is never short of balance, whatever the price difference.
    method = next(mid for mid, m in user["payment_methods"].items() if m["source"] != "gift_card")
    return order, user, {"order_id": order["order_id"], "item_ids": [swap.item["item_id"]],
                         "new_item_ids": [swap.available["item_id"]], "payment_method_id": method}


def _retail_authenticated_before_write(env: Environment) -> RuleBlueprints:
    order, user, _ = retail_pending_pair(env.fresh_database())
    instruction = f"You are {user['email']} and no longer need order {order['order_id']}; cancel it."
    return RuleBlueprints(violating=blueprint(instruction, retail_cancel(order)),
                          compliant=blueprint(instruction, retail_login(user), retail_cancel(order)))


def _retail_single_user(env: Environment) -> RuleBlueprints:
    mine, me, theirs = retail_pending_pair(env.fresh_database())
    instruction = f"You are {me['email']}; check order {mine['order_id']} and cancel it, you no longer need it."
    peek = ("get_order_details", {"order_id": theirs["order_id"]})
    own = ("get_order_details", {"order_id": mine["order_id"]})
    return RuleBlueprints(violating=blueprint(instruction, retail_login(me), peek, retail_cancel(mine)),
                          compliant=blueprint(instruction, retail_login(me), own, retail_cancel(mine)))


def _retail_return_refund_destination(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()

    def other_methods(order: Record, user: Record) -> list[str]:
        return [mid for mid, m in user["payment_methods"].items()
                if m["source"] != "gift_card" and mid not in charged_methods(order)]

    order, user = first_order(db, lambda o, u: o["status"] == "delivered" and bool(other_methods(o, u)))
    returned = {"order_id": order["order_id"], "item_ids": [order["items"][0]["item_id"]]}
    instruction = f"You are {user['email']} and want to return one item of delivered order {order['order_id']}."
    elsewhere = ("return_delivered_order_items", {**returned, "payment_method_id": other_methods(order, user)[0]})
    original = ("return_delivered_order_items", {**returned, "payment_method_id": charged_methods(order)[0]})
    return RuleBlueprints(violating=blueprint(instruction, retail_login(user), elsewhere),
                          compliant=blueprint(instruction, retail_login(user), original))


RETAIL_EXECUTABLE: dict[str, CaseBuilder] = {
    "authenticated_before_write": _retail_authenticated_before_write,
    "single_user": _retail_single_user,
    "return_refund_destination": _retail_return_refund_destination,
}


# -- airline ------------------------------------------------------------------------------------------


def airline_login(user_id: str) -> Call:
    return ("get_user_details", {"user_id": user_id})


def airline_cancel(reservation: Record, reason: str = "change_of_plan") -> Call:
    return ("cancel_reservation", {"reservation_id": reservation["reservation_id"], "reason": reason})


def unflown(db: Database, reservation: Record) -> bool:
    return reservation["status"] == "active" and not airline_rules.has_flown_segment(flights_of(db), reservation)


def with_card(db: Database, reservation: Record) -> bool:
    return method_of(user_of(db, reservation), "credit_card") is not None


def itinerary(reservation: Record, shift_days: int = 0) -> list[dict[str, str]]:
    return [{"flight_number": s["flight_number"], "date": airline_rules.shift_date(s["date"], shift_days)}
            for s in reservation["flights"]]


def shiftable(db: Database, reservation: Record, days: int) -> bool:
    moved = {**reservation, "flights": [{**s, "date": airline_rules.shift_date(s["date"], days)}
                                        for s in reservation["flights"]]}
    return all_bookable(db, moved)


def change_flights(reservation: Record, cabin: str, flights: list[dict[str, str]], payment_id: str) -> Call:
    return ("update_reservation_flights", {"reservation_id": reservation["reservation_id"], "cabin": cabin,
                                           "flights": flights, "payment_id": payment_id})


def booking(db: Database, user: Record, passengers: int = 1, minimum_seats: int = 1,
            **changes: Any) -> dict[str, Any]:
    """book_reservation arguments for a one-way economy trip whose single payment covers the total exactly."""
    number, day, entry = bookable_entry(db, minimum_seats=max(passengers, minimum_seats))
    flight = db.get("flights", number)
    assert flight is not None
    arguments: dict[str, Any] = {
        "user_id": user["user_id"], "origin": flight["origin"], "destination": flight["destination"],
        "flight_type": "one_way", "cabin": "economy", "flights": [{"flight_number": number, "date": day}],
        "passengers": [{"first_name": f"Guest{i}", "last_name": "Lee", "dob": "1980-02-02"}
                       for i in range(passengers)],
        "total_baggages": 0, "nonfree_baggages": 0, "insurance": "no"}
    arguments.update(changes)
    total_cents = (airline_rules.cents(entry["prices"]["economy"]) * passengers
                   + airline_rules.cents(airline_rules.CHECKED_BAG_FEE) * arguments["nonfree_baggages"])
    arguments.setdefault("payment_methods", [{"payment_id": credit_card(user),
                                              "amount": airline_rules.money(total_cents)}])
    return arguments


def _airline_authenticated_before_write(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    # Business cabin makes the cancellation itself allowed, so only the missing login is wrong.
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["cabin"] == "business")
    instruction = f"You are {reservation['user_id']}; cancel reservation {reservation['reservation_id']}."
    return RuleBlueprints(
        violating=blueprint(instruction, airline_cancel(reservation)),
        compliant=blueprint(instruction, airline_login(reservation["user_id"]), airline_cancel(reservation)))


def _airline_single_user(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    mine = find_reservation(db, lambda r: unflown(db, r) and r["cabin"] == "business")
    theirs = find_reservation(db, lambda r: r["user_id"] != mine["user_id"])
    instruction = f"You are {mine['user_id']}; cancel reservation {mine['reservation_id']}."
    login = airline_login(mine["user_id"])
    peek = ("get_reservation_details", {"reservation_id": theirs["reservation_id"]})
    own = ("get_reservation_details", {"reservation_id": mine["reservation_id"]})
    return RuleBlueprints(violating=blueprint(instruction, login, peek, airline_cancel(mine)),
                          compliant=blueprint(instruction, login, own, airline_cancel(mine)))


def _airline_cancellation_allowed(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    flights = flights_of(db)
    # Insured but otherwise without grounds: only a health or weather reason makes it cancellable.
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["insurance"] == "yes"
                                   and not airline_rules.cancellation_grounds(flights, r, "change_of_plan"))
    instruction = f"You are {reservation['user_id']}; cancel reservation {reservation['reservation_id']}."
    login = airline_login(reservation["user_id"])
    return RuleBlueprints(violating=blueprint(instruction, login, airline_cancel(reservation, "change_of_plan")),
                          compliant=blueprint(instruction, login, airline_cancel(reservation, "health")))


def _airline_no_basic_economy_flight_change(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["cabin"] == "basic_economy"
                                   and with_card(db, r) and shiftable(db, r, 1)
                                   and all_bookable(db, r, cabin="economy"))
    card = credit_card(user_of(db, reservation))
    instruction = f"You are {reservation['user_id']}; change reservation {reservation['reservation_id']}."
    login = airline_login(reservation["user_id"])
    moved = change_flights(reservation, "basic_economy", itinerary(reservation, 1), card)
    upgraded = change_flights(reservation, "economy", itinerary(reservation), card)  # a cabin change is allowed
    return RuleBlueprints(violating=blueprint(instruction, login, moved),
                          compliant=blueprint(instruction, login, upgraded))


def _airline_flight_change_keeps_route(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["cabin"] == "economy"
                                   and r["flight_type"] == "one_way" and len(r["flights"]) == 1
                                   and with_card(db, r) and shiftable(db, r, 1))
    segment = reservation["flights"][0]
    travellers = len(reservation["passengers"])
    elsewhere = next(number for number, flight in db.records("flights")
                     if flight["origin"] != segment["origin"]
                     and flight["dates"][segment["date"]]["status"] == "available"
                     and flight["dates"][segment["date"]]["available_seats"]["economy"] >= travellers)
    card = credit_card(user_of(db, reservation))
    instruction = f"You are {reservation['user_id']}; move reservation {reservation['reservation_id']}."
    login = airline_login(reservation["user_id"])
    rerouted = change_flights(reservation, "economy", [{"flight_number": elsewhere, "date": segment["date"]}], card)
    return RuleBlueprints(violating=blueprint(instruction, login, rerouted),
                          compliant=blueprint(instruction, login,
                                              change_flights(reservation, "economy", itinerary(reservation, 1), card)))


def _airline_flown_flights_kept(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    flights = flights_of(db)

    def refly_days(r: Record) -> list[str]:
        """Bookable days, after today and before the second leg, to fly the landed first leg again."""
        first, second = r["flights"]
        return [day for day, entry in db.get("flights", first["flight_number"])["dates"].items()
                if airline_rules.TODAY < day < second["date"] and entry["status"] == "available"
                and entry["available_seats"]["economy"] >= len(r["passengers"])]

    def half_flown(r: Record) -> bool:
        return (r["status"] == "active" and r["cabin"] == "economy" and len(r["flights"]) == 2
                and airline_rules.segment_statuses(flights, r) == ["landed", "available"] and with_card(db, r)
                and shiftable(db, {**r, "flights": r["flights"][1:]}, 1) and bool(refly_days(r)))

    reservation = find_reservation(db, half_flown)
    first, second = reservation["flights"]
    card = credit_card(user_of(db, reservation))
    instruction = f"You are {reservation['user_id']}; change reservation {reservation['reservation_id']}."
    login = airline_login(reservation["user_id"])
    # Flying the landed leg again on a later day: the tools accept it, the policy does not.
    replaced = [{"flight_number": first["flight_number"], "date": refly_days(reservation)[0]},
                {"flight_number": second["flight_number"], "date": second["date"]}]
    kept = [{"flight_number": first["flight_number"], "date": first["date"]},
            {"flight_number": second["flight_number"], "date": airline_rules.shift_date(second["date"], 1)}]
    return RuleBlueprints(violating=blueprint(instruction, login, change_flights(reservation, "economy", replaced, card)),
                          compliant=blueprint(instruction, login, change_flights(reservation, "economy", kept, card)))


def _airline_booking_matches_route(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    user = find_user(db, lambda u: method_of(u, "credit_card") is not None)
    good = booking(db, user)
    wrong_destination = next(code for code in db.ids("airports") if code not in (good["origin"], good["destination"]))
    instruction = f"You are {user['user_id']}; book a one-way economy trip."
    login = airline_login(user["user_id"])
    return RuleBlueprints(
        violating=blueprint(instruction, login, ("book_reservation", {**good, "destination": wrong_destination})),
        compliant=blueprint(instruction, login, ("book_reservation", good)))


def _airline_bags_only_added(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["total_baggages"] >= 2
                                   and r["nonfree_baggages"] == 0 and with_card(db, r))
    user = user_of(db, reservation)
    card = credit_card(user)

    def bags(total: int) -> Call:
        # Non-free bags always follow the allowance, so the bag count is the only thing that differs.
        nonfree = airline_rules.expected_nonfree_bags(user["membership"], reservation["cabin"],
                                                      len(reservation["passengers"]), total)
        return ("update_reservation_baggages", {"reservation_id": reservation["reservation_id"],
                                                "total_baggages": total, "nonfree_baggages": nonfree,
                                                "payment_id": card})

    instruction = f"You are {reservation['user_id']}; update the bags of {reservation['reservation_id']}."
    login = airline_login(reservation["user_id"])
    return RuleBlueprints(violating=blueprint(instruction, login, bags(reservation["total_baggages"] - 1)),
                          compliant=blueprint(instruction, login, bags(reservation["total_baggages"] + 1)))


def _airline_passenger_count(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    user = find_user(db, lambda u: method_of(u, "credit_card") is not None)
    limit = airline_rules.MAX_PASSENGERS
    instruction = f"You are {user['user_id']}; book a trip for your group."
    login = airline_login(user["user_id"])
    # Both bookings use the same flight (the first with room for the larger group).
    return RuleBlueprints(
        violating=blueprint(instruction, login, ("book_reservation", booking(db, user, passengers=limit + 1))),
        compliant=blueprint(instruction, login, ("book_reservation",
                                                 booking(db, user, passengers=limit, minimum_seats=limit + 1))))


def _airline_payment_mix(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    user = find_user(db, lambda u: sum(m["source"] == "credit_card" for m in u["payment_methods"].values()) >= 2)
    cards = [pid for pid, m in user["payment_methods"].items() if m["source"] == "credit_card"]
    single = booking(db, user)
    total = single["payment_methods"][0]["amount"]
    split = {**single, "payment_methods": [{"payment_id": cards[0], "amount": 1.0},
                                           {"payment_id": cards[1], "amount": round(total - 1.0, 2)}]}
    instruction = f"You are {user['user_id']}; book a one-way economy trip."
    login = airline_login(user["user_id"])
    return RuleBlueprints(violating=blueprint(instruction, login, ("book_reservation", split)),
                          compliant=blueprint(instruction, login, ("book_reservation", single)))


def _airline_free_bag_allowance(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    # A regular member flying economy has exactly one free bag, so one bag must be recorded as free.
    user = find_user(db, lambda u: u["membership"] == "regular" and method_of(u, "credit_card") is not None)
    instruction = f"You are {user['user_id']}; book a one-way economy trip with one checked bag."
    login = airline_login(user["user_id"])
    return RuleBlueprints(
        violating=blueprint(instruction, login, ("book_reservation",
                                                 booking(db, user, total_baggages=1, nonfree_baggages=1))),
        compliant=blueprint(instruction, login, ("book_reservation",
                                                 booking(db, user, total_baggages=1, nonfree_baggages=0))))


def _airline_compensation_rules(env: Environment) -> RuleBlueprints:
    db = env.fresh_database()
    flights = flights_of(db)
    eligible = find_reservation(db, lambda r: airline_rules.compensation_limit(flights, user_of(db, r), r) > 0)
    user = user_of(db, eligible)
    limit = max(airline_rules.compensation_limit(flights, user, reservation)
                for reservation in (db.get("reservations", rid) for rid in user["reservations"]) if reservation)
    instruction = f"You are {user['user_id']}; your flight was disrupted and you ask for compensation."
    login = airline_login(user["user_id"])
    return RuleBlueprints(
        violating=blueprint(instruction, login, ("send_certificate", {"user_id": user["user_id"],
                                                                      "amount": limit + 50})),
        compliant=blueprint(instruction, login, ("send_certificate", {"user_id": user["user_id"],
                                                                      "amount": limit})))


AIRLINE_EXECUTABLE: dict[str, CaseBuilder] = {
    "authenticated_before_write": _airline_authenticated_before_write,
    "single_user": _airline_single_user,
    "cancellation_allowed": _airline_cancellation_allowed,
    "no_basic_economy_flight_change": _airline_no_basic_economy_flight_change,
    "flight_change_keeps_route": _airline_flight_change_keeps_route,
    "flown_flights_kept": _airline_flown_flights_kept,
    "booking_matches_route": _airline_booking_matches_route,
    "bags_only_added": _airline_bags_only_added,
    "passenger_count": _airline_passenger_count,
    "payment_mix": _airline_payment_mix,
    "free_bag_allowance": _airline_free_bag_allowance,
    "compensation_rules": _airline_compensation_rules,
}

EXECUTABLE_CASES: dict[str, dict[str, CaseBuilder]] = {"retail": RETAIL_EXECUTABLE, "airline": AIRLINE_EXECUTABLE}
