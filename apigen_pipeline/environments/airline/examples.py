"""Hand-written few-shot tasks, grounded in the default (seed 0, scale 1) database; a test replays
each one and checks it runs cleanly and passes every policy check."""

from __future__ import annotations

from typing import Any

from apigen_pipeline.environments.base import ExampleTask


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


EXAMPLE_TASKS: list[ExampleTask] = [
    ExampleTask(
        instruction=(
            "You are Tariq Jackson, user id tariq_jackson_3560. Yesterday you booked a one-way trip from New York "
            "LaGuardia to Atlanta (reservation UW8P1S), but your plans changed and you want to cancel it and get "
            "your money back. You want to know how much will be refunded. If the agent says it cannot be "
            "cancelled, ask to be transferred to a human agent."),
        actions=[_call("get_user_details", user_id="tariq_jackson_3560"),
                 _call("get_reservation_details", reservation_id="UW8P1S"),
                 _call("cancel_reservation", reservation_id="UW8P1S", reason="change_of_plan")],
        outputs=["439.31"],
        write_tools=["cancel_reservation"],
    ),
    ExampleTask(
        instruction=(
            "You are Olivia Nguyen (user id olivia_nguyen_5924), a silver member. The airline cancelled the return "
            "flight of your Miami - San Francisco round trip TJYJUX, so you want to cancel the whole reservation. "
            "You are upset and, once it is cancelled, ask whether you can get anything for the trouble; accept a "
            "travel certificate if offered. Do not accept anything less than what the policy gives for all three "
            "travellers."),
        actions=[_call("get_user_details", user_id="olivia_nguyen_5924"),
                 _call("get_reservation_details", reservation_id="TJYJUX"),
                 _call("cancel_reservation", reservation_id="TJYJUX", reason="airline_cancelled_flight"),
                 _call("send_certificate", user_id="olivia_nguyen_5924", amount=300)],
        outputs=["300"],
        write_tools=["cancel_reservation", "send_certificate"],
    ),
    ExampleTask(
        instruction=(
            "You are Ibrahim Davis, user id ibrahim_davis_2782. Your business-class trip YLY8DI from Seattle to "
            "Newark starts with a flight on May 17 that is now delayed, which ruins your plans for the group of "
            "five. Ask what the new departure time is, then cancel the reservation because of the delay and ask "
            "for compensation for the inconvenience."),
        actions=[_call("get_user_details", user_id="ibrahim_davis_2782"),
                 _call("get_reservation_details", reservation_id="YLY8DI"),
                 _call("search_direct_flight", origin="SEA", destination="JFK", date="2024-05-17"),
                 _call("cancel_reservation", reservation_id="YLY8DI", reason="other"),
                 _call("send_certificate", user_id="ibrahim_davis_2782", amount=250)],
        outputs=["21:50"],
        write_tools=["cancel_reservation", "send_certificate"],
    ),
    ExampleTask(
        instruction=(
            "You are Javier Kim (user id javier_kim_8570). You want to cancel your basic economy trip RI7U42 from "
            "Denver to Las Vegas on May 27 because you changed your mind. If a refund is not possible, you would "
            "rather upgrade both travellers to economy on the same flights, paying with your credit card, and "
            "you want to know what the upgrade costs in total."),
        actions=[_call("get_user_details", user_id="javier_kim_8570"),
                 _call("get_reservation_details", reservation_id="RI7U42"),
                 _call("update_reservation_flights", reservation_id="RI7U42", cabin="economy",
                       flights=[{"flight_number": "HZN010", "date": "2024-05-27"},
                                {"flight_number": "HZN268", "date": "2024-05-27"}],
                       payment_id="credit_card_3608184")],
        outputs=["268.56"],
        write_tools=["update_reservation_flights"],
    ),
    ExampleTask(
        instruction=(
            "You are Kavya Rossi, user id kavya_rossi_2850. Your friend Isabella Hall flies Denver - Dallas on "
            "reservation Z6EA2V and needs to come back one day later than planned, on May 28, on the same flight "
            "number. Pay any difference with your gift card ending in 5800; you want to know the difference."),
        actions=[_call("get_user_details", user_id="kavya_rossi_2850"),
                 _call("get_reservation_details", reservation_id="Z6EA2V"),
                 _call("search_direct_flight", origin="DFW", destination="DEN", date="2024-05-28"),
                 _call("update_reservation_flights", reservation_id="Z6EA2V", cabin="economy",
                       flights=[{"flight_number": "HZN090", "date": "2024-05-25"},
                                {"flight_number": "HZN089", "date": "2024-05-28"}],
                       payment_id="gift_card_6195800")],
        outputs=["19.95"],
        write_tools=["update_reservation_flights"],
    ),
    ExampleTask(
        instruction=(
            "You are Yusuf Jackson (user id yusuf_jackson_5208), a silver member. Mei Hoang travels on your "
            "reservation TMR4CG and now needs three checked bags in total instead of one. Ask how much extra it "
            "costs and pay with the credit card ending in 4896. You do not want travel insurance."),
        actions=[_call("get_user_details", user_id="yusuf_jackson_5208"),
                 _call("get_reservation_details", reservation_id="TMR4CG"),
                 _call("update_reservation_baggages", reservation_id="TMR4CG", total_baggages=3,
                       nonfree_baggages=1, payment_id="credit_card_6044896")],
        outputs=["50"],
        write_tools=["update_reservation_baggages"],
    ),
    ExampleTask(
        instruction=(
            "You are Adebayo Martin, user id adebayo_martin_5472. On reservation FLGC5X the date of birth of "
            "passenger Ruth Clark is wrong: it should be 1949-07-27. Ask the agent to correct it; everything "
            "else stays as it is."),
        actions=[_call("get_user_details", user_id="adebayo_martin_5472"),
                 _call("get_reservation_details", reservation_id="FLGC5X"),
                 _call("update_reservation_passengers", reservation_id="FLGC5X", passengers=[
                     {"first_name": "Noah", "last_name": "Alvarez", "dob": "1966-05-11"},
                     {"first_name": "Emily", "last_name": "Hoang", "dob": "1989-07-13"},
                     {"first_name": "Ruth", "last_name": "Clark", "dob": "1949-07-27"},
                     {"first_name": "Mason", "last_name": "Kowalski", "dob": "1980-11-08"}])],
        outputs=[],
        write_tools=["update_reservation_passengers"],
    ),
    ExampleTask(
        instruction=(
            "You are Rosa Olsen (user id rosa_olsen_2461). You want a one-way economy trip from Phoenix to Chicago "
            "O'Hare tomorrow, May 16, for yourself and Wei Hernandez (born 1967-06-18), on the only direct "
            "flight. You bring two checked bags and do not want insurance. Use your 300 dollar travel certificate "
            "first and put the rest on your credit card; you want to know the total price. If no direct flight "
            "is available, do not book anything."),
        actions=[_call("get_user_details", user_id="rosa_olsen_2461"),
                 _call("search_direct_flight", origin="PHX", destination="ORD", date="2024-05-16"),
                 _call("calculate", expression="2 * 343.97"),
                 _call("book_reservation", user_id="rosa_olsen_2461", origin="PHX", destination="ORD",
                       flight_type="one_way", cabin="economy",
                       flights=[{"flight_number": "HZN166", "date": "2024-05-16"}],
                       passengers=[{"first_name": "Rosa", "last_name": "Olsen", "dob": "1989-02-15"},
                                   {"first_name": "Wei", "last_name": "Hernandez", "dob": "1967-06-18"}],
                       payment_methods=[{"payment_id": "certificate_8035463", "amount": 300},
                                        {"payment_id": "credit_card_5270987", "amount": 387.94}],
                       total_baggages=2, nonfree_baggages=0, insurance="no")],
        outputs=["687.94"],
        write_tools=["book_reservation"],
    ),
]
