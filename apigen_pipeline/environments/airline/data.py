"""The seeded airline database: airports, flights with a month of per-date status/seats/prices,
users with payment methods, and reservations on those flights.

Only `random.Random(seed)` decides anything, and tables are built in a fixed order, so one seed
always gives the same bytes. Work is linear in the record counts; the generator calls
`rng.random()` directly (far cheaper than `randint`/`choice`) because scale 100 is benchmarked.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apigen_pipeline.environments.airline.rules import (
    CABINS,
    DAYS_IN_SCHEDULE,
    FIRST_DATE,
    MIN_CONNECTION_MINUTES,
    NOW,
    cents,
    expected_nonfree_bags,
)
from apigen_pipeline.environments.airline.vocabulary import (
    AIRPORTS,
    CARD_BRANDS,
    CERTIFICATE_AMOUNTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    STREET_NAMES,
    STREET_SUFFIXES,
)
from apigen_pipeline.environments.database import Record, Tables

BASE_USERS = 500
BASE_RESERVATIONS = 2000
BASE_FLIGHTS = 300
FLIGHT_NUMBER_PREFIX = "HZN"

_START = datetime.fromisoformat(FIRST_DATE)
# Day strings a little past the schedule: late arrivals and delays can spill into the next days.
_DAYS = tuple((_START + timedelta(days=offset)).date().isoformat() for offset in range(DAYS_IN_SCHEDULE + 3))
DATES = _DAYS[:DAYS_IN_SCHEDULE]
_NOW_MINUTE = int((datetime.fromisoformat(NOW) - _START).total_seconds() // 60)
_TODAY_INDEX = _NOW_MINUTE // 1440
_CANCELLED_ENTRY: dict[str, Any] = {"status": "cancelled"}  # shared: seed records are never mutated in place


@dataclass(frozen=True)
class _FlightPlan:
    index: int
    origin: str
    destination: str
    departure: int  # minutes after midnight
    arrival: int  # minutes after midnight of the departure day (> 1440 when it lands the next day)
    base_prices: tuple[float, float, float]
    record: Record


def generate_data(seed: int, scale: float) -> Tables:
    rng = random.Random(seed)
    counts = record_counts(scale)
    airports = _airports()
    plans = _flights(rng, counts["flights"])
    users = _users(rng, counts["users"])
    reservations = _reservations(rng, counts["reservations"], plans, users)
    return {
        "airports": airports,
        "flights": {plan.record["flight_number"]: plan.record for plan in plans},
        "users": users,
        "reservations": reservations,
    }


def record_counts(scale: float) -> dict[str, int]:
    return {
        "users": max(1, round(BASE_USERS * scale)),
        "reservations": max(1, round(BASE_RESERVATIONS * scale)),
        "flights": max(2, round(BASE_FLIGHTS * scale)),
        "airports": len(AIRPORTS),
    }


def _airports() -> dict[str, Record]:
    return {code: {"iata": code, "city": city, "state": state, "name": name}
            for code, city, state, name, *_ in AIRPORTS}


def _stamp(minute: int) -> str:
    day, rest = divmod(minute, 1440)
    return f"{_DAYS[day]}T{rest // 60:02d}:{rest % 60:02d}:00"


def _clock(minute: int) -> str:
    day, rest = divmod(minute, 1440)
    return f"{rest // 60:02d}:{rest % 60:02d}:00" + ("+1" if day else "")


def _miles(a: tuple[Any, ...], b: tuple[Any, ...]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[4], a[5], b[4], b[5]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 3958.8 * 2 * math.asin(math.sqrt(h))


def _weighted_airport_picker(rng: random.Random):
    cumulative: list[int] = []
    total = 0
    for airport in AIRPORTS:
        total += airport[6]
        cumulative.append(total)

    def pick() -> int:
        return bisect_left(cumulative, rng.random() * total + 1e-9)

    return pick


def _flights(rng: random.Random, count: int) -> list[_FlightPlan]:
    """Flights come in out-and-back pairs on one route, so every route can be flown both ways."""
    random_ = rng.random
    pick_airport = _weighted_airport_picker(rng)
    width = max(3, len(str(count)))
    plans: list[_FlightPlan] = []
    while len(plans) < count:
        a = pick_airport()
        b = pick_airport()
        while b == a:
            b = pick_airport()
        miles = _miles(AIRPORTS[a], AIRPORTS[b])
        block = 5 * round((35 + miles / 7.9) / 5)  # taxi + cruise at ~475 mph, on a 5-minute grid
        basic = (45 + 0.095 * miles) * (0.85 + 0.3 * random_())
        base_prices = (basic, basic * (1.3 + 0.5 * random_()), basic * (2.6 + 1.8 * random_()))
        for origin, destination in ((a, b), (b, a)):
            if len(plans) == count:
                break
            departure = 5 * (60 + int(random_() * 205))  # 05:00 to 22:00
            arrival = departure + block + 5 * int(random_() * 5)
            number = f"{FLIGHT_NUMBER_PREFIX}{len(plans) + 1:0{width}d}"
            record = {
                "flight_number": number,
                "origin": AIRPORTS[origin][0],
                "destination": AIRPORTS[destination][0],
                "scheduled_departure_time_est": _clock(departure),
                "scheduled_arrival_time_est": _clock(arrival),
                "dates": _flight_dates(random_, departure, arrival, base_prices),
            }
            plans.append(_FlightPlan(len(plans), record["origin"], record["destination"], departure, arrival,
                                     base_prices, record))
    return plans


def _flight_dates(random_, departure: int, arrival: int, base_prices: tuple[float, float, float]) -> dict[str, Any]:
    dates: dict[str, Any] = {}
    for day, day_string in enumerate(DATES):
        scheduled_departure = day * 1440 + departure
        scheduled_arrival = day * 1440 + arrival
        roll = random_()
        if scheduled_arrival <= _NOW_MINUTE:
            if roll < 0.025:
                dates[day_string] = _CANCELLED_ENTRY
                continue
            delay = _usual_delay(random_())
            if scheduled_arrival + delay + 10 > _NOW_MINUTE:
                delay = 0
            dates[day_string] = {
                "status": "landed",
                "actual_departure_time_est": _stamp(scheduled_departure + delay),
                "actual_arrival_time_est": _stamp(scheduled_arrival + delay + int(random_() * 21) - 10),
            }
        elif scheduled_departure <= _NOW_MINUTE:
            delay = int(random_() * 25)
            dates[day_string] = {
                "status": "flying",
                "actual_departure_time_est": _stamp(scheduled_departure + delay),
                "estimated_arrival_time_est": _stamp(scheduled_arrival + delay),
            }
        else:
            near_term = scheduled_departure - _NOW_MINUTE < 72 * 60
            if near_term and roll < 0.07:
                delay = 30 + 5 * int(random_() * 43)
                dates[day_string] = {
                    "status": "delayed",
                    "estimated_departure_time_est": _stamp(scheduled_departure + delay),
                    "estimated_arrival_time_est": _stamp(scheduled_arrival + delay),
                }
            elif roll < (0.11 if near_term else 0.015):
                dates[day_string] = _CANCELLED_ENTRY
            else:
                demand = 0.82 + 0.45 * random_()
                dates[day_string] = {
                    "status": "available",
                    "available_seats": {"basic_economy": int(random_() * 21), "economy": int(random_() * 21),
                                        "business": int(random_() * 13)},
                    "prices": {cabin: round(base * demand * (0.95 + 0.1 * random_()), 2)
                               for cabin, base in zip(CABINS, base_prices, strict=True)},
                }
    return dates


def _usual_delay(roll: float) -> int:
    if roll < 0.7:
        return int(roll * 28) - 9  # -9..+10 minutes: on time
    if roll < 0.95:
        return 10 + int((roll - 0.7) * 200)  # 10..60 minutes
    return 60 + int((roll - 0.95) * 2400)  # 1..3 hours


def _person(random_) -> dict[str, str]:
    return {"first_name": FIRST_NAMES[int(random_() * len(FIRST_NAMES))],
            "last_name": LAST_NAMES[int(random_() * len(LAST_NAMES))],
            "dob": _birthday(random_)}


def _birthday(random_) -> str:
    return f"{1948 + int(random_() * 58)}-{1 + int(random_() * 12):02d}-{1 + int(random_() * 28):02d}"


def _seven_digits(random_) -> int:
    return 1_000_000 + int(random_() * 9_000_000)


def _users(rng: random.Random, count: int) -> dict[str, Record]:
    random_ = rng.random
    pick_airport = _weighted_airport_picker(rng)
    users: dict[str, Record] = {}
    while len(users) < count:
        first = FIRST_NAMES[int(random_() * len(FIRST_NAMES))]
        last = LAST_NAMES[int(random_() * len(LAST_NAMES))]
        user_id = f"{first.lower()}_{last.lower()}_{1000 + int(random_() * 9000)}"
        if user_id in users:
            continue
        _, city, state, _, _, _, _, zip_prefix = AIRPORTS[pick_airport()]
        membership_roll = random_()
        users[user_id] = {
            "user_id": user_id,
            "name": {"first_name": first, "last_name": last},
            "address": {
                "address1": f"{1 + int(random_() * 9899)} {STREET_NAMES[int(random_() * len(STREET_NAMES))]} "
                            f"{STREET_SUFFIXES[int(random_() * len(STREET_SUFFIXES))]}",
                "address2": _address_line_two(random_),
                "city": city,
                "state": state,
                "country": "USA",
                "zip": f"{zip_prefix}{int(random_() * 100):02d}",
            },
            "email": f"{first.lower()}.{last.lower()}{int(random_() * 100)}@"
                     f"{EMAIL_DOMAINS[int(random_() * len(EMAIL_DOMAINS))]}",
            "dob": _birthday(random_),
            "membership": "regular" if membership_roll < 0.5 else "silver" if membership_roll < 0.8 else "gold",
            "payment_methods": _payment_methods(random_),
            "saved_passengers": [_person(random_) for _ in range(int(random_() * 4))],
            "reservations": [],
        }
    return users


def _address_line_two(random_) -> str:
    roll = random_()
    if roll < 0.25:
        return f"Apt {1 + int(random_() * 30)}{'ABCD'[int(random_() * 4)]}"
    if roll < 0.4:
        return f"Suite {100 + int(random_() * 800)}"
    return ""


def _payment_methods(random_) -> dict[str, Record]:
    methods: dict[str, Record] = {}
    card_count = 0 if random_() < 0.15 else 1 if random_() < 0.8 else 2
    gift_count = int(random_() * 3) if card_count else 1 + int(random_() * 2)
    for _ in range(card_count):
        method_id = f"credit_card_{_seven_digits(random_)}"
        methods[method_id] = {"source": "credit_card", "id": method_id,
                              "brand": CARD_BRANDS[int(random_() * len(CARD_BRANDS))],
                              "last_four": f"{int(random_() * 10000):04d}"}
    for _ in range(gift_count):
        method_id = f"gift_card_{_seven_digits(random_)}"
        methods[method_id] = {"source": "gift_card", "id": method_id,
                              "amount": round(10 + random_() * 490, 2)}
    for _ in range(0 if random_() < 0.6 else 1 if random_() < 0.7 else 2):
        method_id = f"certificate_{_seven_digits(random_)}"
        methods[method_id] = {"source": "certificate", "id": method_id,
                              "amount": CERTIFICATE_AMOUNTS[int(random_() * len(CERTIFICATE_AMOUNTS))]}
    return methods


class _Network:
    """Route lookups over the generated flights, used only to build coherent itineraries."""

    def __init__(self, plans: list[_FlightPlan]):
        self.plans = plans
        self.departures: dict[str, list[_FlightPlan]] = {}
        self.routes: dict[tuple[str, str], list[_FlightPlan]] = {}
        for plan in sorted(plans, key=lambda p: (p.departure, p.index)):
            self.departures.setdefault(plan.origin, []).append(plan)
            self.routes.setdefault((plan.origin, plan.destination), []).append(plan)
        self.departure_minutes = {a: [p.departure for p in ps] for a, ps in self.departures.items()}

    def connection_after(self, random_, first: _FlightPlan, avoid: str, to: str | None = None) -> _FlightPlan | None:
        """A second leg from where `first` lands, leaving at least the minimum connection time later."""
        earliest = first.arrival % 1440 + MIN_CONNECTION_MINUTES
        if earliest >= 1440 or first.destination not in self.departures:
            return None
        if to is not None:
            options = [p for p in self.routes.get((first.destination, to), []) if p.departure >= earliest]
        else:
            start = bisect_left(self.departure_minutes[first.destination], earliest)
            options = [p for p in self.departures[first.destination][start:start + 8] if p.destination != avoid]
        return options[int(random_() * len(options))] if options else None


def _leg(network: _Network, random_, origin: str, destination: str | None, day: int,
         connect: bool) -> list[tuple[_FlightPlan, int]] | None:
    """One direction of a trip: a direct flight or two flights with a valid connection."""
    if destination is not None:
        direct = network.routes.get((origin, destination))
        if direct and not connect:
            return [(direct[int(random_() * len(direct))], day)]
        departures = network.departures.get(origin, [])
        for _ in range(6):
            if not departures:
                break
            first = departures[int(random_() * len(departures))]
            if first.destination == destination:
                continue
            second = network.connection_after(random_, first, origin, to=destination)
            if second is not None:
                return [(first, day), (second, day + first.arrival // 1440)]
        return [(direct[int(random_() * len(direct))], day)] if direct else None
    departures = network.departures.get(origin) or network.plans
    first = departures[int(random_() * len(departures))]
    if connect:
        second = network.connection_after(random_, first, first.origin)
        if second is not None:
            return [(first, day), (second, day + first.arrival // 1440)]
    return [(first, day)]


def _segment(plan: _FlightPlan, day: int, cabin_index: int, random_) -> Record:
    date = DATES[day]
    entry = plan.record["dates"][date]
    if entry["status"] == "available":
        price = entry["prices"][CABINS[cabin_index]]
    else:  # bought before the flight flew or was disrupted: a price from the usual range
        price = round(plan.base_prices[cabin_index] * (0.82 + 0.45 * random_()), 2)
    return {"flight_number": plan.record["flight_number"], "origin": plan.origin, "destination": plan.destination,
            "date": date, "price": price}


def _reservations(rng: random.Random, count: int, plans: list[_FlightPlan],
                  users: dict[str, Record]) -> dict[str, Record]:
    random_ = rng.random
    network = _Network(plans)
    user_list = list(users.values())
    home_airports = {(a[1], a[2]): a[0] for a in AIRPORTS}
    alphabet = "ABCDEFGHIJKLMNPQRSTUVWXYZ0123456789"
    reservations: dict[str, Record] = {}
    while len(reservations) < count:
        reservation_id = "".join(alphabet[int(random_() * len(alphabet))] for _ in range(6))
        if reservation_id in reservations:
            continue
        user = user_list[int(random_() * len(user_list))]
        upcoming = random_() < 0.62
        out_day = (_TODAY_INDEX + 1 + int(random_() * 13)) if upcoming else int(random_() * _TODAY_INDEX)
        home = home_airports[(user["address"]["city"], user["address"]["state"])]
        origin = home if random_() < 0.6 and home in network.departures else None
        if origin is None:
            origin = plans[int(random_() * len(plans))].origin
        outbound = _leg(network, random_, origin, None, out_day, connect=random_() < 0.3)
        assert outbound is not None
        destination = outbound[-1][0].destination
        itinerary = outbound
        flight_type = "one_way"
        if random_() < 0.55:
            return_day = outbound[-1][1] + 1 + int(random_() * 6)
            back = _leg(network, random_, destination, origin, return_day, connect=len(outbound) > 1)
            if back is not None and back[-1][1] < DAYS_IN_SCHEDULE:
                itinerary = outbound + back
                flight_type = "round_trip"
        if itinerary[-1][1] >= DAYS_IN_SCHEDULE:
            continue  # an overnight connection ran past the schedule: draw another trip
        reservations[reservation_id] = _reservation(random_, reservation_id, user, origin, destination,
                                                    flight_type, itinerary)
        user["reservations"].append(reservation_id)
    return reservations


def _reservation(random_, reservation_id: str, user: Record, origin: str, destination: str, flight_type: str,
                 itinerary: list[tuple[_FlightPlan, int]]) -> Record:
    cabin_roll = random_()
    cabin_index = 0 if cabin_roll < 0.3 else 1 if cabin_roll < 0.75 else 2
    cabin = CABINS[cabin_index]
    segments = [_segment(plan, day, cabin_index, random_) for plan, day in itinerary]
    passengers = _passengers(random_, user)
    bags = sum(0 if r < 0.45 else 1 if r < 0.85 else 2 for r in (random_() for _ in passengers))
    nonfree = expected_nonfree_bags(user["membership"], cabin, len(passengers), bags)
    insurance = "yes" if random_() < 0.4 else "no"
    total = (sum(cents(s["price"]) for s in segments) * len(passengers)
             + (3000 * len(passengers) if insurance == "yes" else 0) + 5000 * nonfree)
    first_departure = itinerary[0][1] * 1440 + itinerary[0][0].departure
    status = "cancelled" if random_() < 0.08 else "active"
    payments = _payment_history(random_, user, total)
    if status == "cancelled":
        payments += [{"payment_id": p["payment_id"], "amount": -p["amount"]} for p in payments]
    return {
        "reservation_id": reservation_id,
        "user_id": user["user_id"],
        "origin": origin,
        "destination": destination,
        "flight_type": flight_type,
        "cabin": cabin,
        "flights": segments,
        "passengers": passengers,
        "payment_history": payments,
        "created_at": _created_at(random_, first_departure),
        "total_baggages": bags,
        "nonfree_baggages": nonfree,
        "insurance": insurance,
        "status": status,
    }


def _passengers(random_, user: Record) -> list[dict[str, str]]:
    roll = random_()
    count = 1 if roll < 0.45 else 2 if roll < 0.73 else 3 if roll < 0.87 else 4 if roll < 0.95 else 5
    people: list[dict[str, str]] = []
    if random_() < 0.8:
        people.append({**user["name"], "dob": user["dob"]})
    people.extend(user["saved_passengers"][: count - len(people)])
    while len(people) < count:
        people.append(_person(random_))
    return people


def _payment_history(random_, user: Record, total_cents: int) -> list[dict[str, Any]]:
    methods = user["payment_methods"]
    cards = [m for m in methods if methods[m]["source"] == "credit_card"]
    gifts = [m for m in methods if methods[m]["source"] == "gift_card"]
    primary = (cards if cards and (not gifts or random_() < 0.75) else gifts)
    primary_id = primary[int(random_() * len(primary))]
    if random_() < 0.15:
        # a certificate used at booking is consumed, so its id is no longer on the profile
        certificate_cents = cents(CERTIFICATE_AMOUNTS[int(random_() * len(CERTIFICATE_AMOUNTS))])
        certificate_id = f"certificate_{_seven_digits(random_)}"
        if certificate_cents >= total_cents:
            return [{"payment_id": certificate_id, "amount": total_cents / 100}]
        return [{"payment_id": certificate_id, "amount": certificate_cents / 100},
                {"payment_id": primary_id, "amount": (total_cents - certificate_cents) / 100}]
    return [{"payment_id": primary_id, "amount": total_cents / 100}]


def _created_at(random_, first_departure_minute: int) -> str:
    latest = min(_NOW_MINUTE, first_departure_minute - 120)
    if first_departure_minute > _NOW_MINUTE and random_() < 0.06:
        minute = _NOW_MINUTE - 30 - int(random_() * 1380)  # booked in the last day: still freely cancellable
    else:
        minute = min(latest, first_departure_minute - 1440 * (1 + int(random_() * 60))) - int(random_() * 1440)
        minute = min(minute, _NOW_MINUTE - 1500)
    return (_START + timedelta(minutes=minute)).isoformat()
