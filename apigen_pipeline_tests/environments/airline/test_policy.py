"""Each policy check against a violating and a compliant trace, built by executing real calls."""

from __future__ import annotations

from typing import Any

from apigen_pipeline.environments.airline import rules
from apigen_pipeline.environments.airline.policy import POLICY_CHECKS, POLICY_SECTIONS
from apigen_pipeline.environments.database import Database
from apigen_pipeline_tests.environments.airline.finders import (
    all_bookable,
    bookable_entry,
    credit_card,
    find_reservation,
    find_user,
    flights_of,
    method_of,
    run,
    user_of,
    violations,
)


def auth(user_id: str) -> tuple[str, dict[str, Any]]:
    return ("get_user_details", {"user_id": user_id})


def cancel(reservation: dict[str, Any], reason: str = "change_of_plan") -> tuple[str, dict[str, Any]]:
    return ("cancel_reservation", {"reservation_id": reservation["reservation_id"], "reason": reason})


def unflown(db: Database, r: dict[str, Any]) -> bool:
    return r["status"] == "active" and not rules.has_flown_segment(flights_of(db), r)


def with_card(db: Database, r: dict[str, Any]) -> bool:
    return method_of(user_of(db, r), "credit_card") is not None


def test_every_check_has_a_unique_rule_and_sections_name_real_tools(env):
    rules_named = [check.rule for check in POLICY_CHECKS]
    assert len(rules_named) == len(set(rules_named))
    tool_names = {spec.name for spec in env.tool_specs}
    assert all(set(section.tools) <= tool_names for section in POLICY_SECTIONS)
    governed = {tool for section in POLICY_SECTIONS for tool in section.tools}
    assert set(env.write_tools) <= governed


def test_authentication_must_precede_writes(env, db):
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["cabin"] == "business")
    unauthenticated = run(env, [cancel(reservation)])
    assert violations(env, unauthenticated, "authenticated_before_write")
    wrong_order = run(env, [cancel(reservation), auth(reservation["user_id"])])
    assert violations(env, wrong_order, "authenticated_before_write")
    compliant = run(env, [auth(reservation["user_id"]), cancel(reservation)])
    assert violations(env, compliant, "authenticated_before_write") == []


def test_single_user(env, db):
    mine = find_reservation(db, lambda r: r["status"] == "active")
    theirs = find_reservation(db, lambda r: r["user_id"] != mine["user_id"])
    snooping = run(env, [auth(mine["user_id"]), ("get_reservation_details",
                                                  {"reservation_id": theirs["reservation_id"]})])
    messages = violations(env, snooping, "single_user")
    assert len(messages) == 1 and theirs["user_id"] in messages[0] and "call #1" in messages[0]
    compliant = run(env, [auth(mine["user_id"]), ("get_reservation_details",
                                                   {"reservation_id": mine["reservation_id"]})])
    assert violations(env, compliant, "single_user") == []


def test_a_failed_lookup_of_a_mistyped_id_concerns_no_user(env, db):
    mine = find_reservation(db, lambda r: r["status"] == "active")
    retyped = env.new_session()
    assert not retyped.execute(*auth("nobody_0000")).ok
    for name, arguments in (auth(mine["user_id"]),
                            ("get_reservation_details", {"reservation_id": mine["reservation_id"]})):
        assert retyped.execute(name, arguments).ok
    assert violations(env, retyped, "single_user") == []


def test_cancellation_eligibility(env, db):
    flights = flights_of(db)
    ineligible = find_reservation(db, lambda r: unflown(db, r) and r["insurance"] == "yes"
                                  and not rules.cancellation_grounds(flights, r, "change_of_plan"))
    user_id = ineligible["user_id"]
    assert violations(env, run(env, [auth(user_id), cancel(ineligible, "change_of_plan")]), "cancellation_allowed")
    assert violations(env, run(env, [auth(user_id), cancel(ineligible, "health")]), "cancellation_allowed") == []

    recent = find_reservation(db, lambda r: unflown(db, r) and rules.booked_within_grace_period(r)
                              and r["cabin"] != "business" and r["insurance"] == "no")
    assert violations(env, run(env, [auth(recent["user_id"]), cancel(recent)]), "cancellation_allowed") == []

    airline_cancelled = find_reservation(db, lambda r: unflown(db, r) and r["cabin"] == "economy"
                                         and not rules.booked_within_grace_period(r)
                                         and rules.disruption(flights, r) == "cancelled")
    assert violations(env, run(env, [auth(airline_cancelled["user_id"]), cancel(airline_cancelled)]),
                      "cancellation_allowed") == []

    flown = find_reservation(db, lambda r: r["status"] == "active" and r["cabin"] == "business"
                             and rules.has_flown_segment(flights, r))
    messages = violations(env, run(env, [auth(flown["user_id"]), cancel(flown)]), "cancellation_allowed")
    assert messages and "already been flown" in messages[0]


def _shifted(reservation: dict[str, Any], days: int) -> list[dict[str, str]]:
    return [{"flight_number": s["flight_number"], "date": rules.shift_date(s["date"], days)}
            for s in reservation["flights"]]


def _same(reservation: dict[str, Any]) -> list[dict[str, str]]:
    return [{"flight_number": s["flight_number"], "date": s["date"]} for s in reservation["flights"]]


def _shiftable(db: Database, r: dict[str, Any], days: int) -> bool:
    moved = {**r, "flights": [{**s, "date": rules.shift_date(s["date"], days)} for s in r["flights"]]}
    return all_bookable(db, moved)


def test_basic_economy_flights_cannot_change_but_cabin_can(env, db):
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["cabin"] == "basic_economy"
                                   and with_card(db, r) and _shiftable(db, r, 1)
                                   and all_bookable(db, r, cabin="economy"))
    card = credit_card(user_of(db, reservation))
    moved = run(env, [auth(reservation["user_id"]), ("update_reservation_flights", {
        "reservation_id": reservation["reservation_id"], "cabin": "basic_economy",
        "flights": _shifted(reservation, 1), "payment_id": card})])
    assert violations(env, moved, "no_basic_economy_flight_change")
    upgraded = run(env, [auth(reservation["user_id"]), ("update_reservation_flights", {
        "reservation_id": reservation["reservation_id"], "cabin": "economy",
        "flights": _same(reservation), "payment_id": card})])
    assert violations(env, upgraded, "no_basic_economy_flight_change") == []


def test_flight_change_keeps_route(env, db):
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["cabin"] == "economy"
                                   and r["flight_type"] == "one_way" and len(r["flights"]) == 1
                                   and with_card(db, r) and _shiftable(db, r, 1))
    segment = reservation["flights"][0]
    elsewhere = next(number for number, flight in db.records("flights")
                     if flight["origin"] != segment["origin"]
                     and flight["dates"][segment["date"]]["status"] == "available"
                     and flight["dates"][segment["date"]]["available_seats"]["economy"] >= len(reservation["passengers"]))
    card = credit_card(user_of(db, reservation))
    rerouted = run(env, [auth(reservation["user_id"]), ("update_reservation_flights", {
        "reservation_id": reservation["reservation_id"], "cabin": "economy",
        "flights": [{"flight_number": elsewhere, "date": segment["date"]}], "payment_id": card})])
    assert violations(env, rerouted, "flight_change_keeps_route")
    moved = run(env, [auth(reservation["user_id"]), ("update_reservation_flights", {
        "reservation_id": reservation["reservation_id"], "cabin": "economy",
        "flights": _shifted(reservation, 1), "payment_id": card})])
    assert violations(env, moved, "flight_change_keeps_route") == []


def test_flown_flights_are_kept(env, db):
    flights = flights_of(db)

    def half_flown(r: dict[str, Any]) -> bool:
        statuses = rules.segment_statuses(flights, r)
        return (r["status"] == "active" and r["cabin"] == "economy" and len(r["flights"]) == 2
                and statuses[0] == "landed" and statuses[1] == "available" and with_card(db, r))
    reservation = find_reservation(db, half_flown)
    first, second = reservation["flights"]
    later = rules.shift_date(second["date"], 1)
    entry = db.get("flights", second["flight_number"])["dates"].get(later)
    assert entry and entry["status"] == "available"
    card = credit_card(user_of(db, reservation))
    kept = run(env, [auth(reservation["user_id"]), ("update_reservation_flights", {
        "reservation_id": reservation["reservation_id"], "cabin": "economy",
        "flights": [{"flight_number": first["flight_number"], "date": first["date"]},
                    {"flight_number": second["flight_number"], "date": later}], "payment_id": card})])
    assert violations(env, kept, "flown_flights_kept") == []
    replaced_day = next(d for d, e in db.get("flights", first["flight_number"])["dates"].items()
                        if d > rules.TODAY and d < second["date"] and e["status"] == "available"
                        and e["available_seats"]["economy"] >= len(reservation["passengers"]))
    replaced = run(env, [auth(reservation["user_id"]), ("update_reservation_flights", {
        "reservation_id": reservation["reservation_id"], "cabin": "economy",
        "flights": [{"flight_number": first["flight_number"], "date": replaced_day},
                    {"flight_number": second["flight_number"], "date": second["date"]}], "payment_id": card})])
    messages = violations(env, replaced, "flown_flights_kept")
    assert messages and "already landed" in messages[0]


def booking(db: Database, user: dict[str, Any], passengers: int = 1, **changes: Any) -> dict[str, Any]:
    number, day, entry = bookable_entry(db, minimum_seats=max(passengers, 1))
    flight = db.get("flights", number)
    people = [{"first_name": f"Guest{i}", "last_name": "Lee", "dob": "1980-02-02"} for i in range(passengers)]
    arguments = {"user_id": user["user_id"], "origin": flight["origin"], "destination": flight["destination"],
                 "flight_type": "one_way", "cabin": "economy",
                 "flights": [{"flight_number": number, "date": day}], "passengers": people,
                 "payment_methods": [], "total_baggages": 0, "nonfree_baggages": 0, "insurance": "no"}
    arguments.update(changes)
    allowance_fee = rules.cents(rules.CHECKED_BAG_FEE) * arguments["nonfree_baggages"]
    total = rules.cents(entry["prices"]["economy"]) * passengers + allowance_fee
    if not arguments["payment_methods"]:
        arguments["payment_methods"] = [{"payment_id": credit_card(user), "amount": total / 100}]
    return arguments


def test_booking_matches_route(env, db):
    user = find_user(db, lambda u: method_of(u, "credit_card") is not None)
    good = booking(db, user)
    assert violations(env, run(env, [auth(user["user_id"]), ("book_reservation", good)]),
                      "booking_matches_route") == []
    wrong_destination = next(code for code in db.ids("airports") if code not in (good["origin"], good["destination"]))
    bad = {**good, "destination": wrong_destination}
    assert violations(env, run(env, [auth(user["user_id"]), ("book_reservation", bad)]), "booking_matches_route")
    round_trip_without_return = {**good, "flight_type": "round_trip"}
    assert violations(env, run(env, [auth(user["user_id"]), ("book_reservation", round_trip_without_return)]),
                      "booking_matches_route")


def test_bags_can_be_added_not_removed(env, db):
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["total_baggages"] >= 2 and with_card(db, r)
                                   and r["nonfree_baggages"] == 0)
    card = credit_card(user_of(db, reservation))
    fewer = run(env, [auth(reservation["user_id"]), ("update_reservation_baggages", {
        "reservation_id": reservation["reservation_id"], "total_baggages": reservation["total_baggages"] - 1,
        "nonfree_baggages": 0, "payment_id": card})])
    messages = violations(env, fewer, "bags_only_added")
    assert messages and "lowers checked bags" in messages[0]
    more = run(env, [auth(reservation["user_id"]), ("update_reservation_baggages", {
        "reservation_id": reservation["reservation_id"], "total_baggages": reservation["total_baggages"] + 1,
        "nonfree_baggages": 0, "payment_id": card})])
    assert violations(env, more, "bags_only_added") == []


def test_insurance_never_changes_after_booking(env, db):
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["insurance"] == "no")
    passengers = [{**p, "last_name": p["last_name"] + "-Smith"} for p in reservation["passengers"]]
    calls = [auth(reservation["user_id"]), ("update_reservation_passengers",
                                            {"reservation_id": reservation["reservation_id"],
                                             "passengers": passengers})]
    compliant = run(env, calls)
    assert violations(env, compliant, "no_insurance_after_booking") == []
    # No built-in tool edits insurance; a plugin tool that did would leave exactly this state behind.
    tampered = run(env, calls)
    tampered.database.get_for_update("reservations", reservation["reservation_id"])["insurance"] = "yes"
    messages = violations(env, tampered, "no_insurance_after_booking")
    assert messages == [f"reservation {reservation['reservation_id']}: insurance changed from 'no' to 'yes' "
                        "after booking"]


def test_passenger_count_limits(env, db):
    user = find_user(db, lambda u: method_of(u, "credit_card") is not None)
    six = booking(db, user, passengers=6)
    assert violations(env, run(env, [auth(user["user_id"]), ("book_reservation", six)]), "passenger_count")
    five = booking(db, user, passengers=5)
    assert violations(env, run(env, [auth(user["user_id"]), ("book_reservation", five)]), "passenger_count") == []

    reservation = find_reservation(db, lambda r: unflown(db, r) and len(r["passengers"]) >= 2)
    fewer = reservation["passengers"][:-1]
    dropped = run(env, [auth(reservation["user_id"]), ("update_reservation_passengers", {
        "reservation_id": reservation["reservation_id"], "passengers": fewer})])
    assert violations(env, dropped, "passenger_count")
    renamed = [{**p, "first_name": p["first_name"] + "a"} for p in reservation["passengers"]]
    same_count = run(env, [auth(reservation["user_id"]), ("update_reservation_passengers", {
        "reservation_id": reservation["reservation_id"], "passengers": renamed})])
    assert violations(env, same_count, "passenger_count") == []


def test_payment_mix(env, db):
    user = find_user(db, lambda u: sum(m["source"] == "credit_card" for m in u["payment_methods"].values()) >= 2)
    cards = [pid for pid, m in user["payment_methods"].items() if m["source"] == "credit_card"]
    single = booking(db, user)
    total = single["payment_methods"][0]["amount"]
    split = {**single, "payment_methods": [{"payment_id": cards[0], "amount": 1.0},
                                           {"payment_id": cards[1], "amount": round(total - 1.0, 2)}]}
    messages = violations(env, run(env, [auth(user["user_id"]), ("book_reservation", split)]), "payment_mix")
    assert messages and "2 credit cards" in messages[0]
    assert violations(env, run(env, [auth(user["user_id"]), ("book_reservation", single)]), "payment_mix") == []


def test_free_bag_allowance(env, db):
    user = find_user(db, lambda u: u["membership"] == "regular" and method_of(u, "credit_card") is not None)
    correct = booking(db, user, total_baggages=2, nonfree_baggages=1)  # regular economy: one free bag each
    assert violations(env, run(env, [auth(user["user_id"]), ("book_reservation", correct)]),
                      "free_bag_allowance") == []
    overcharged = booking(db, user, total_baggages=1, nonfree_baggages=1)
    messages = violations(env, run(env, [auth(user["user_id"]), ("book_reservation", overcharged)]),
                          "free_bag_allowance")
    assert messages and "has 0" in messages[0]

    reservation = find_reservation(db, lambda r: unflown(db, r) and with_card(db, r)
                                   and user_of(db, r)["membership"] == "gold" and r["cabin"] == "business")
    card = credit_card(user_of(db, reservation))
    free = rules.free_bag_allowance("gold", "business", len(reservation["passengers"]))
    charged = run(env, [auth(reservation["user_id"]), ("update_reservation_baggages", {
        "reservation_id": reservation["reservation_id"], "total_baggages": free, "nonfree_baggages": 1,
        "payment_id": card})])
    assert violations(env, charged, "free_bag_allowance")
    fair = run(env, [auth(reservation["user_id"]), ("update_reservation_baggages", {
        "reservation_id": reservation["reservation_id"], "total_baggages": free + 1, "nonfree_baggages": 1,
        "payment_id": card})])
    assert violations(env, fair, "free_bag_allowance") == []


def test_compensation_rules(env, db):
    flights = flights_of(db)
    eligible = find_reservation(db, lambda r: rules.compensation_limit(flights, user_of(db, r), r) > 0)
    user_id = eligible["user_id"]
    limit = max(rules.compensation_limit(flights, user_of(db, eligible), db.get("reservations", rid))
                for rid in user_of(db, eligible)["reservations"])
    within = run(env, [auth(user_id), ("send_certificate", {"user_id": user_id, "amount": limit})])
    assert violations(env, within, "compensation_rules") == []
    above = run(env, [auth(user_id), ("send_certificate", {"user_id": user_id, "amount": limit + 50})])
    assert violations(env, above, "compensation_rules")
    twice = run(env, [auth(user_id), ("send_certificate", {"user_id": user_id, "amount": 50}),
                      ("send_certificate", {"user_id": user_id, "amount": 50})])
    messages = violations(env, twice, "compensation_rules")
    assert len(messages) == 1 and "second certificate" in messages[0]

    unaffected = find_user(db, lambda u: all(
        rules.compensation_limit(flights, u, db.get("reservations", rid)) == 0 for rid in u["reservations"]))
    refused = run(env, [auth(unaffected["user_id"]), ("send_certificate", {"user_id": unaffected["user_id"],
                                                                            "amount": 50})])
    messages = violations(env, refused, "compensation_rules")
    assert messages and "no reservation that qualifies" in messages[0]


def test_failed_calls_do_not_count_as_violations(env, db):
    reservation = find_reservation(db, lambda r: r["status"] == "cancelled")
    session = env.new_session()
    call = session.execute("cancel_reservation", {"reservation_id": reservation["reservation_id"], "reason": "other"})
    assert not call.ok
    assert violations(env, session, "cancellation_allowed") == []
