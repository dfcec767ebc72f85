"""Every airline tool on success and on each error path, always through `Environment.execute`."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from apigen_pipeline.environments.airline import rules
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.database import Database
from apigen_pipeline_tests.environments.airline.finders import (
    all_bookable,
    bookable_entry,
    credit_card,
    entry_with_status,
    find_reservation,
    find_user,
    method_of,
    run,
    user_of,
)


def execute_ok(env: Environment, db: Database, name: str, arguments: dict[str, Any]) -> Any:
    call = env.execute(db, name, arguments)
    assert call.ok, call.observation
    try:
        return json.loads(call.observation)
    except json.JSONDecodeError:
        return call.observation


def assert_rejected(env: Environment, db: Database, name: str, arguments: Any, fragment: str) -> None:
    before = db.state_hash()
    call = env.execute(db, name, arguments)
    assert not call.ok
    assert call.observation.startswith("Error: ")
    assert fragment in call.observation, call.observation
    assert db.state_hash() == before


def future_reservation(db: Database, **conditions: Any) -> dict[str, Any]:
    def fits(r: dict[str, Any]) -> bool:
        return (r["status"] == "active" and all_bookable(db, r)
                and all(r[key] == value for key, value in conditions.items()))
    return find_reservation(db, fits)


# -- generic bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, arguments, fragment", [
    ("get_flight_status", {}, "unknown tool"),
    ("get_user_details", {}, "'user_id' is a required property"),
    ("get_user_details", {"user_id": "x", "email": "y"}, "Additional properties"),
    ("get_user_details", {"user_id": 12}, "is not of type 'string'"),
    ("cancel_reservation", {"reservation_id": "ABC123", "reason": "bored"}, "is not one of"),
    ("search_direct_flight", {"origin": "jfk", "destination": "LAX", "date": "2024-05-20"}, "does not match"),
    ("update_reservation_baggages", {"reservation_id": "A", "total_baggages": -1, "nonfree_baggages": 0,
                                     "payment_id": "p"}, "less than the minimum"),
    ("get_user_details", ["not", "an", "object"], "must be an object"),
])
def test_malformed_calls_are_rejected_before_the_tool_runs(env, db, name, arguments, fragment):
    assert_rejected(env, db, name, arguments, fragment)


# -- read tools -------------------------------------------------------------------------------------
def test_get_user_details_returns_the_stored_record(env, db):
    user_id = next(db.ids("users"))
    assert execute_ok(env, db, "get_user_details", {"user_id": user_id}) == db.get("users", user_id)
    assert_rejected(env, db, "get_user_details", {"user_id": "nobody_0000"}, "user 'nobody_0000' not found")


def test_get_reservation_details_returns_the_stored_record(env, db):
    reservation_id = next(db.ids("reservations"))
    assert execute_ok(env, db, "get_reservation_details", {"reservation_id": reservation_id}) == \
        db.get("reservations", reservation_id)
    assert_rejected(env, db, "get_reservation_details", {"reservation_id": "ZZZZZZ"}, "not found")


def test_list_all_airports_lists_every_airport(env, db):
    airports = execute_ok(env, db, "list_all_airports", {})
    assert sorted(a["iata"] for a in airports) == sorted(db.ids("airports"))


def test_search_direct_flight_shows_every_flight_of_the_route_with_its_status(env, db):
    number, day = entry_with_status(db, "delayed")
    flight = db.get("flights", number)
    results = execute_ok(env, db, "search_direct_flight",
                         {"origin": flight["origin"], "destination": flight["destination"], "date": day})
    expected = {n for n, f in db.records("flights")
                if f["origin"] == flight["origin"] and f["destination"] == flight["destination"]}
    assert {r["flight_number"] for r in results} == expected
    delayed = next(r for r in results if r["flight_number"] == number)
    assert delayed["status"] == "delayed" and "estimated_departure_time_est" in delayed
    for result in results:
        assert ("prices" in result) == (result["status"] == "available")


def test_search_direct_flight_errors(env, db):
    assert_rejected(env, db, "search_direct_flight", {"origin": "XXX", "destination": "JFK", "date": "2024-05-20"},
                    "airport 'XXX' not found")
    assert_rejected(env, db, "search_direct_flight", {"origin": "JFK", "destination": "JFK", "date": "2024-05-20"},
                    "must differ")


def test_search_onestop_flight_returns_valid_bookable_connections(env, db):
    origin, destination, day = "ATL", "SEA", "2024-05-20"
    itineraries = execute_ok(env, db, "search_onestop_flight", {"origin": origin, "destination": destination,
                                                                "date": day})
    assert itineraries, "seed-0 should connect two large hubs"
    for first, second in itineraries:
        assert first["origin"] == origin and second["destination"] == destination
        assert first["destination"] == second["origin"] and first["date"] == day
        assert first["status"] == second["status"] == "available"
        landing = rules.clock_minutes(first["scheduled_arrival_time_est"])
        assert second["date"] == rules.shift_date(day, landing // 1440)
        assert rules.clock_minutes(second["scheduled_departure_time_est"]) >= landing % 1440 + 45
    assert_rejected(env, db, "search_onestop_flight", {"origin": "ATL", "destination": "QQQ", "date": day},
                    "not found")


@pytest.mark.parametrize("expression, result", [("2 * (3 + 4.5)", "15.0"), ("-10 / 4", "-2.5"),
                                                ("(129.52 + 151.16) * 2 + 50", "611.36")])
def test_calculate_evaluates_arithmetic(env, db, expression, result):
    assert env.execute(db, "calculate", {"expression": expression}).observation == result


@pytest.mark.parametrize("expression, fragment", [("__import__('os').getcwd()", "only numbers"),
                                                  ("2 ** 8", "only numbers"), ("1 / 0", "division by zero"),
                                                  ("3 +", "invalid expression"), ("True + 1", "only numbers")])
def test_calculate_rejects_anything_but_arithmetic(env, db, expression, fragment):
    assert_rejected(env, db, "calculate", {"expression": expression}, fragment)


def test_think_and_transfer(env, db):
    assert env.execute(db, "think", {"thought": "the user is gold"}).observation == ""
    assert execute_ok(env, db, "transfer_to_human_agents", {"summary": "wants a refund"}) == "Transfer successful"


# -- book_reservation -------------------------------------------------------------------------------
def booking_arguments(db: Database, user: dict[str, Any], number: str, day: str, cabin: str = "economy",
                      passengers: int = 1) -> dict[str, Any]:
    flight = db.get("flights", number)
    price = flight["dates"][day]["prices"][cabin]
    people = [{"first_name": f"P{i}", "last_name": "Test", "dob": "1990-01-01"} for i in range(passengers)]
    return {"user_id": user["user_id"], "origin": flight["origin"], "destination": flight["destination"],
            "flight_type": "one_way", "cabin": cabin, "flights": [{"flight_number": number, "date": day}],
            "passengers": people, "payment_methods": [{"payment_id": credit_card(user),
                                                       "amount": round(price * passengers, 2)}],
            "total_baggages": 0, "nonfree_baggages": 0, "insurance": "no"}


def test_book_reservation_creates_the_reservation_and_takes_seats_and_balances(env, db):
    user = find_user(db, lambda u: method_of(u, "credit_card") and method_of(u, "gift_card")
                     and method_of(u, "certificate"))
    number, day, entry = bookable_entry(db, minimum_seats=2)
    arguments = booking_arguments(db, user, number, day, passengers=2)
    arguments["insurance"] = "yes"
    total = rules.cents(entry["prices"]["economy"]) * 2 + 6000
    gift, certificate = method_of(user, "gift_card"), method_of(user, "certificate")
    gift_cents, certificate_cents = (rules.cents(user["payment_methods"][gift]["amount"]),
                                     rules.cents(user["payment_methods"][certificate]["amount"]))
    gift_part = min(gift_cents, 1000)
    certificate_part = min(certificate_cents, total - gift_part - 1)
    arguments["payment_methods"] = [
        {"payment_id": gift, "amount": gift_part / 100},
        {"payment_id": certificate, "amount": certificate_part / 100},
        {"payment_id": credit_card(user), "amount": (total - gift_part - certificate_part) / 100}]
    reservation = execute_ok(env, db, "book_reservation", arguments)

    assert db.get("reservations", reservation["reservation_id"]) == reservation
    assert len(reservation["reservation_id"]) == 6 and reservation["created_at"] == rules.NOW
    assert reservation["flights"][0]["price"] == entry["prices"]["economy"]
    after = db.get("users", user["user_id"])
    assert after["reservations"][-1] == reservation["reservation_id"]
    assert rules.cents(after["payment_methods"][gift]["amount"]) == gift_cents - gift_part
    assert certificate not in after["payment_methods"]  # a used certificate is consumed
    seats = db.get("flights", number)["dates"][day]["available_seats"]["economy"]
    assert seats == entry["available_seats"]["economy"] - 2


def test_book_reservation_error_paths(env, db):
    user = find_user(db, lambda u: method_of(u, "credit_card") and method_of(u, "gift_card"))
    number, day, entry = bookable_entry(db)
    good = booking_arguments(db, user, number, day)

    def variant(**changes: Any) -> dict[str, Any]:
        return {**good, **changes}

    cancelled_number, cancelled_day = next(
        (n, d) for n, f in db.records("flights") for d, e in f["dates"].items()
        if e["status"] == "cancelled" and d > rules.TODAY)
    full_number, full_day = next((n, d) for n, f in db.records("flights") for d, e in f["dates"].items()
                                 if e["status"] == "available" and e["available_seats"]["business"] == 0)
    other_user = find_user(db, lambda u: u["user_id"] != user["user_id"])
    gift = method_of(user, "gift_card")
    cases = [
        (variant(user_id="nobody_0000"), "user 'nobody_0000' not found"),
        (variant(flights=[{"flight_number": "HZN999", "date": day}]), "flight 'HZN999' not found"),
        (variant(flights=[{"flight_number": number, "date": "2024-06-20"}]), "does not operate on"),
        (variant(flights=[{"flight_number": cancelled_number, "date": cancelled_day}]), "is cancelled"),
        (variant(flights=[{"flight_number": full_number, "date": full_day}], cabin="business"), "seat(s) left"),
        (variant(flights=[good["flights"][0], good["flights"][0]]), "listed twice"),
        (variant(payment_methods=[{"payment_id": credit_card(other_user), "amount": 10}]), "does not belong"),
        (variant(payment_methods=[{"payment_id": gift, "amount": 10_000}]), "not enough"),
        (variant(payment_methods=[{"payment_id": credit_card(user), "amount": 1.0}]), "add up to"),
        (variant(total_baggages=0, nonfree_baggages=1), "cannot exceed"),
        (variant(origin="XXX"), "airport 'XXX' not found"),
    ]
    for arguments, fragment in cases:
        assert_rejected(env, db, "book_reservation", arguments, fragment)


# -- cancel_reservation -----------------------------------------------------------------------------
def test_cancel_reservation_refunds_every_payment_and_releases_seats(env, db):
    reservation = future_reservation(db)
    segment = reservation["flights"][0]
    seats_before = db.get("flights", segment["flight_number"])["dates"][segment["date"]]["available_seats"]
    cancelled = execute_ok(env, db, "cancel_reservation", {"reservation_id": reservation["reservation_id"],
                                                           "reason": "change_of_plan"})
    assert cancelled["status"] == "cancelled"
    refunds = cancelled["payment_history"][len(reservation["payment_history"]):]
    assert sorted((p["payment_id"], -p["amount"]) for p in refunds) == \
        sorted((p["payment_id"], p["amount"]) for p in reservation["payment_history"])
    seats_after = db.get("flights", segment["flight_number"])["dates"][segment["date"]]["available_seats"]
    cabin = reservation["cabin"]
    assert seats_after[cabin] == seats_before[cabin] + len(reservation["passengers"])
    assert_rejected(env, db, "cancel_reservation", {"reservation_id": reservation["reservation_id"],
                                                    "reason": "other"}, "is cancelled")
    assert_rejected(env, db, "cancel_reservation", {"reservation_id": "ZZZZZZ", "reason": "other"}, "not found")


# -- update_reservation_flights ---------------------------------------------------------------------
def test_update_reservation_flights_moves_a_date_and_charges_the_difference(env, db):
    def movable(r: dict[str, Any]) -> bool:
        if r["status"] != "active" or r["cabin"] == "basic_economy" or r["flight_type"] != "one_way":
            return False
        if len(r["flights"]) != 1 or not all_bookable(db, r):
            return False
        segment = r["flights"][0]
        new = db.get("flights", segment["flight_number"])["dates"].get(rules.shift_date(segment["date"], 1))
        return bool(new and new["status"] == "available" and new["available_seats"][r["cabin"]] >= len(r["passengers"])
                    and new["prices"][r["cabin"]] != segment["price"])
    reservation = find_reservation(db, movable)
    segment = reservation["flights"][0]
    new_day = rules.shift_date(segment["date"], 1)
    new_price = db.get("flights", segment["flight_number"])["dates"][new_day]["prices"][reservation["cabin"]]
    card = credit_card(user_of(db, reservation))
    updated = execute_ok(env, db, "update_reservation_flights", {
        "reservation_id": reservation["reservation_id"], "cabin": reservation["cabin"],
        "flights": [{"flight_number": segment["flight_number"], "date": new_day}], "payment_id": card})
    assert updated["flights"][0]["date"] == new_day and updated["flights"][0]["price"] == new_price
    expected = (rules.cents(new_price) - rules.cents(segment["price"])) * len(reservation["passengers"])
    assert updated["payment_history"][-1] == {"payment_id": card, "amount": expected / 100}
    old_seats = db.get("flights", segment["flight_number"])["dates"][segment["date"]]["available_seats"]
    seed_db = env.fresh_database()
    seed_seats = seed_db.get("flights", segment["flight_number"])["dates"][segment["date"]]["available_seats"]
    assert old_seats[reservation["cabin"]] == seed_seats[reservation["cabin"]] + len(reservation["passengers"])


def test_update_reservation_flights_changes_cabin_keeping_flights(env, db):
    reservation = find_reservation(db, lambda r: r["status"] == "active" and r["cabin"] == "basic_economy"
                                   and all_bookable(db, r, cabin="business")
                                   and method_of(user_of(db, r), "credit_card") is not None)
    card = credit_card(user_of(db, reservation))
    flights = [{"flight_number": s["flight_number"], "date": s["date"]} for s in reservation["flights"]]
    updated = execute_ok(env, db, "update_reservation_flights", {
        "reservation_id": reservation["reservation_id"], "cabin": "business", "flights": flights, "payment_id": card})
    assert updated["cabin"] == "business"
    assert [(s["flight_number"], s["date"]) for s in updated["flights"]] == \
        [(f["flight_number"], f["date"]) for f in flights]
    for segment in updated["flights"]:
        entry = db.get("flights", segment["flight_number"])["dates"][segment["date"]]
        assert segment["price"] == entry["prices"]["business"]


def test_update_reservation_flights_error_paths(env, db):
    reservation = future_reservation(db, cabin="economy")
    user = user_of(db, reservation)
    flights = [{"flight_number": s["flight_number"], "date": s["date"]} for s in reservation["flights"]]
    good = {"reservation_id": reservation["reservation_id"], "cabin": "economy", "flights": flights,
            "payment_id": method_of(user, "credit_card") or method_of(user, "gift_card")}
    cancelled = find_reservation(db, lambda r: r["status"] == "cancelled")
    other_user = find_user(db, lambda u: u["user_id"] != user["user_id"] and method_of(u, "credit_card"))
    landed_number, landed_day = entry_with_status(db, "landed")
    certificate_owner_reservation = future_reservation(db, cabin="economy") if method_of(user, "certificate") else \
        find_reservation(db, lambda r: r["status"] == "active" and method_of(user_of(db, r), "certificate"))
    certificate = method_of(user_of(db, certificate_owner_reservation), "certificate")
    cases = [
        ({**good, "reservation_id": "ZZZZZZ"}, "not found"),
        ({**good, "reservation_id": cancelled["reservation_id"]}, "is cancelled"),
        ({**good, "payment_id": credit_card(other_user)}, "does not belong"),
        (good, "same as the current"),
        ({**good, "flights": [{"flight_number": landed_number, "date": landed_day}]}, "is landed"),
        ({**good, "flights": flights + flights[:1]}, "listed twice"),
        ({**good, "reservation_id": certificate_owner_reservation["reservation_id"], "payment_id": certificate,
          "cabin": "business"}, "certificate can only be used when booking"),
    ]
    for arguments, fragment in cases:
        assert_rejected(env, db, "update_reservation_flights", arguments, fragment)


def test_update_reservation_flights_rejects_a_gift_card_without_enough_balance(env, db):
    def poor(r: dict[str, Any]) -> bool:
        user = db.get("users", r["user_id"])
        gift = method_of(user, "gift_card")
        return (r["status"] == "active" and r["cabin"] == "basic_economy" and gift is not None
                and all_bookable(db, r, cabin="business")
                and user["payment_methods"][gift]["amount"] < 50)
    reservation = find_reservation(db, poor)
    flights = [{"flight_number": s["flight_number"], "date": s["date"]} for s in reservation["flights"]]
    assert_rejected(env, db, "update_reservation_flights", {
        "reservation_id": reservation["reservation_id"], "cabin": "business", "flights": flights,
        "payment_id": method_of(user_of(db, reservation), "gift_card")}, "not enough")


# -- update_reservation_baggages --------------------------------------------------------------------
def test_update_reservation_baggages_charges_non_free_bags(env, db):
    reservation = future_reservation(db)
    user = user_of(db, reservation)
    card = method_of(user, "credit_card")
    if card is None:
        reservation = find_reservation(db, lambda r: r["status"] == "active" and method_of(user_of(db, r),
                                                                                          "credit_card"))
        card = credit_card(user_of(db, reservation))
    updated = execute_ok(env, db, "update_reservation_baggages", {
        "reservation_id": reservation["reservation_id"], "total_baggages": reservation["total_baggages"] + 2,
        "nonfree_baggages": reservation["nonfree_baggages"] + 2, "payment_id": card})
    assert updated["total_baggages"] == reservation["total_baggages"] + 2
    assert updated["payment_history"][-1] == {"payment_id": card, "amount": 100.0}


def test_update_reservation_baggages_error_paths(env, db):
    reservation = find_reservation(db, lambda r: r["status"] == "active"
                                   and method_of(user_of(db, r), "certificate") and method_of(user_of(db, r),
                                                                                             "gift_card"))
    user = user_of(db, reservation)
    gift = method_of(user, "gift_card")
    huge = int(user["payment_methods"][gift]["amount"] // 50) + 2
    base = {"reservation_id": reservation["reservation_id"], "total_baggages": reservation["total_baggages"],
            "nonfree_baggages": reservation["nonfree_baggages"], "payment_id": gift}
    cancelled = find_reservation(db, lambda r: r["status"] == "cancelled")
    cases = [
        ({**base, "reservation_id": "ZZZZZZ"}, "not found"),
        ({**base, "reservation_id": cancelled["reservation_id"], "total_baggages": 9}, "is cancelled"),
        (base, "same as the current"),
        ({**base, "total_baggages": 1, "nonfree_baggages": 2}, "cannot exceed"),
        ({**base, "total_baggages": 9, "payment_id": method_of(user, "certificate")}, "certificate"),
        ({**base, "total_baggages": 9, "payment_id": "credit_card_0000000"}, "does not belong"),
        ({**base, "total_baggages": reservation["total_baggages"] + huge,
          "nonfree_baggages": reservation["nonfree_baggages"] + huge}, "not enough"),
    ]
    for arguments, fragment in cases:
        assert_rejected(env, db, "update_reservation_baggages", arguments, fragment)


# -- update_reservation_passengers ------------------------------------------------------------------
def test_update_reservation_passengers_replaces_the_list(env, db):
    reservation = future_reservation(db)
    passengers = [dict(p) for p in reservation["passengers"]]
    passengers[0] = {**passengers[0], "dob": "1999-12-31"}
    updated = execute_ok(env, db, "update_reservation_passengers",
                         {"reservation_id": reservation["reservation_id"], "passengers": passengers})
    assert updated["passengers"] == passengers
    assert_rejected(env, db, "update_reservation_passengers",
                    {"reservation_id": reservation["reservation_id"], "passengers": passengers}, "same as the current")
    assert_rejected(env, db, "update_reservation_passengers", {"reservation_id": "ZZZZZZ", "passengers": passengers},
                    "not found")
    cancelled = find_reservation(db, lambda r: r["status"] == "cancelled")
    assert_rejected(env, db, "update_reservation_passengers",
                    {"reservation_id": cancelled["reservation_id"], "passengers": passengers}, "is cancelled")


# -- send_certificate -------------------------------------------------------------------------------
def test_send_certificate_adds_a_certificate(env, db):
    user = find_user(db, lambda u: True)
    message = execute_ok(env, db, "send_certificate", {"user_id": user["user_id"], "amount": 150})
    added = set(db.get("users", user["user_id"])["payment_methods"]) - set(user["payment_methods"])
    assert len(added) == 1
    certificate_id = added.pop()
    assert certificate_id in message
    assert db.get("users", user["user_id"])["payment_methods"][certificate_id] == {
        "source": "certificate", "id": certificate_id, "amount": 150.0}
    assert_rejected(env, db, "send_certificate", {"user_id": "nobody_0000", "amount": 50}, "not found")
    assert_rejected(env, db, "send_certificate", {"user_id": user["user_id"], "amount": 0.001}, "at least 0.01")
    assert_rejected(env, db, "send_certificate", {"user_id": user["user_id"], "amount": 0}, "less than or equal")


# -- state properties -------------------------------------------------------------------------------
def every_write(db: Database) -> list[tuple[str, dict[str, Any]]]:
    """One successful call of each write tool, on distinct records."""
    movable = find_reservation(db, lambda r: r["status"] == "active" and r["cabin"] == "economy"
                               and all_bookable(db, r, cabin="business") and method_of(user_of(db, r), "credit_card"))
    bags = find_reservation(db, lambda r: r["status"] == "active" and r is not movable
                            and r["reservation_id"] != movable["reservation_id"]
                            and method_of(user_of(db, r), "credit_card"))
    passengers = find_reservation(db, lambda r: r["status"] == "active"
                                  and r["reservation_id"] not in (movable["reservation_id"], bags["reservation_id"]))
    cancel = find_reservation(db, lambda r: r["status"] == "active" and r["reservation_id"] not in (
        movable["reservation_id"], bags["reservation_id"], passengers["reservation_id"]))
    booker = find_user(db, lambda u: method_of(u, "credit_card") is not None)
    number, day, _ = bookable_entry(db)
    return [
        ("book_reservation", booking_arguments(db, booker, number, day)),
        ("cancel_reservation", {"reservation_id": cancel["reservation_id"], "reason": "other"}),
        ("update_reservation_flights", {"reservation_id": movable["reservation_id"], "cabin": "business",
                                        "flights": [{"flight_number": s["flight_number"], "date": s["date"]}
                                                    for s in movable["flights"]],
                                        "payment_id": credit_card(user_of(db, movable))}),
        ("update_reservation_baggages", {"reservation_id": bags["reservation_id"],
                                         "total_baggages": bags["total_baggages"] + 1,
                                         "nonfree_baggages": bags["nonfree_baggages"] + 1,
                                         "payment_id": credit_card(user_of(db, bags))}),
        ("update_reservation_passengers", {"reservation_id": passengers["reservation_id"], "passengers": [
            {**p, "first_name": p["first_name"] + "e"} for p in passengers["passengers"]]}),
        ("send_certificate", {"user_id": booker["user_id"], "amount": 100}),
    ]


def test_every_write_changes_the_state_hash_and_replays_identically(env, db):
    calls = every_write(db)
    assert {name for name, _ in calls} == set(env.write_tools)
    hashes = []
    for name, arguments in calls:
        before = db.state_hash()
        execute_ok(env, db, name, arguments)
        assert db.state_hash() != before, name
        hashes.append(db.state_hash())
    replay = run(env, calls)
    assert replay.state_hash() == db.state_hash()
    assert len(set(hashes)) == len(hashes)


def test_diff_names_exactly_the_changed_records_and_fields(env, db):
    reservation = future_reservation(db)
    user = user_of(db, reservation)
    card = method_of(user, "credit_card") or method_of(user, "gift_card")
    session = run(env, [("update_reservation_baggages", {
        "reservation_id": reservation["reservation_id"], "total_baggages": reservation["total_baggages"] + 1,
        "nonfree_baggages": reservation["nonfree_baggages"], "payment_id": card})])
    diff = session.diff_from_seed()
    assert diff.changed_records == {("reservations", reservation["reservation_id"])}
    assert [(c.path, c.before, c.after) for c in diff.changes] == [
        ("total_baggages", reservation["total_baggages"], reservation["total_baggages"] + 1)]


def test_no_tool_mutates_the_seed_snapshot(env):
    digest = hashlib.sha256(env.snapshot.to_bytes()).hexdigest()
    db = env.fresh_database()
    for name, arguments in every_write(db):
        execute_ok(env, db, name, arguments)
    for name, arguments in [("get_user_details", {"user_id": next(db.ids("users"))}),
                            ("search_direct_flight", {"origin": "ATL", "destination": "SEA", "date": "2024-05-20"}),
                            ("search_onestop_flight", {"origin": "ATL", "destination": "SEA", "date": "2024-05-20"}),
                            ("list_all_airports", {})]:
        execute_ok(env, db, name, arguments)
    assert hashlib.sha256(env.snapshot.to_bytes()).hexdigest() == digest
