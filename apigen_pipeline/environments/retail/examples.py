"""Hand-written retail example tasks, grounded in the default database (seed 0, scale 1).

They are the few-shot examples a blueprint generator sees, so each one shows a different shape of
task: each write tool, an information-only request, two writes for one user, and each identity.
A test replays every one on a fresh seed-0 database; regenerate them if the generator changes.
"""

from __future__ import annotations

from apigen_pipeline.environments.base import ExampleTask


def _call(name: str, **arguments: object) -> dict[str, object]:
    return {"name": name, "arguments": arguments}


EXAMPLE_TASKS: tuple[ExampleTask, ...] = (
    ExampleTask(
        instruction=(
            "You are Ximena Kumar, ZIP code 21236; you don't remember your email. You ordered a standing desk "
            "and a monitor by mistake (order #W1684866) and want the whole order cancelled. You want to know "
            "how much will be refunded. If the agent says it cannot be cancelled, accept it and end the chat."),
        actions=[
            _call("find_user_id_by_name_zip", first_name="Ximena", last_name="Kumar", zip="21236"),
            _call("get_user_details", user_id="ximena_kumar_9307"),
            _call("get_order_details", order_id="#W1684866"),
            _call("cancel_pending_order", order_id="#W1684866", reason="ordered by mistake"),
        ],
        outputs=["1044.45"],
        write_tools=["cancel_pending_order"],
    ),
    ExampleTask(
        instruction=(
            "You are Hiroshi Green (ZIP code 20002). You will be in Portland for a while and want your pending "
            "order #W9118618 shipped to 1162 Hillcrest Road, Portland, OR 97224, USA (no apartment number) "
            "instead. Your profile address stays as it is. You are polite but in a hurry."),
        actions=[
            _call("find_user_id_by_name_zip", first_name="Hiroshi", last_name="Green", zip="20002"),
            _call("get_user_details", user_id="hiroshi_green_7771"),
            _call("get_order_details", order_id="#W9118618"),
            _call("modify_pending_order_address", order_id="#W9118618", address1="1162 Hillcrest Road",
                  address2="", city="Portland", state="OR", country="USA", zip="97224"),
        ],
        write_tools=["modify_pending_order_address"],
    ),
    ExampleTask(
        instruction=(
            "You are Lena Gomez, email lena.gomez5560@post.example.org. You'd rather pay for your pending "
            "keyboard order #W1267733 with your gift card than with your credit card, and you want to know the "
            "gift card balance left afterwards. If the gift card can't cover it, keep the credit card."),
        actions=[
            _call("find_user_id_by_email", email="lena.gomez5560@post.example.org"),
            _call("get_user_details", user_id="lena_gomez_5560"),
            _call("get_order_details", order_id="#W1267733"),
            _call("modify_pending_order_payment", order_id="#W1267733", payment_method_id="gift_card_1393079"),
        ],
        outputs=["109.43"],
        write_tools=["modify_pending_order_payment"],
    ),
    ExampleTask(
        instruction=(
            "You are Daniel Hill, ZIP code 53723. In your pending order #W0349438 you want the smartphone "
            "changed from the white 64GB 6.7-inch model to the black 256GB 6.1-inch one, keeping everything "
            "else; any difference goes to your PayPal. Ask how much you get back. If that model is not "
            "available, keep the order unchanged."),
        actions=[
            _call("find_user_id_by_name_zip", first_name="Daniel", last_name="Hill", zip="53723"),
            _call("get_user_details", user_id="daniel_hill_5252"),
            _call("get_order_details", order_id="#W0349438"),
            _call("get_product_details", product_id="8639105013"),
            _call("modify_pending_order_items", order_id="#W0349438", item_ids=["2470011974"],
                  new_item_ids=["6944855642"], payment_method_id="paypal_2124750"),
        ],
        outputs=["137.94"],
        write_tools=["modify_pending_order_items"],
    ),
    ExampleTask(
        instruction=(
            "You are Rahul White, email rahul.white9007@inbox.example. From your delivered order #W5431752 you "
            "want to return the jigsaw puzzle and the sunglasses (keep the speaker and the stove), with the "
            "refund on your gift card. You want to know the refund total. If the gift card is not possible, "
            "use the original payment method."),
        actions=[
            _call("find_user_id_by_email", email="rahul.white9007@inbox.example"),
            _call("get_user_details", user_id="rahul_white_9007"),
            _call("get_order_details", order_id="#W5431752"),
            _call("return_delivered_order_items", order_id="#W5431752", item_ids=["3606132742", "5761466328"],
                  payment_method_id="gift_card_8977579"),
        ],
        outputs=["118.86"],
        write_tools=["return_delivered_order_items"],
    ),
    ExampleTask(
        instruction=(
            "You are Liam Wilson, email liam.wilson7433@mailbox.test. The green road bike (large frame) from "
            "your delivered order #W3200285 is fine, but you'd prefer it in blue, same frame size and type. "
            "Keep the hoodie. Ask what the price difference is; use your credit card for it. If blue is not "
            "available, keep the green one."),
        actions=[
            _call("find_user_id_by_email", email="liam.wilson7433@mailbox.test"),
            _call("get_user_details", user_id="liam_wilson_7433"),
            _call("get_order_details", order_id="#W3200285"),
            _call("get_product_details", product_id="3313058860"),
            _call("exchange_delivered_order_items", order_id="#W3200285", item_ids=["9456941602"],
                  new_item_ids=["2786110329"], payment_method_id="credit_card_9829547"),
        ],
        outputs=["75.52"],
        write_tools=["exchange_delivered_order_items"],
    ),
    ExampleTask(
        instruction=(
            "You are Jonas Turner, ZIP code 02124. You have moved to 2261 Pine Road, Apt 763, Tucson, AZ 85735, "
            "USA. Update the address on your profile, and have your pending order #W5558191 shipped to the new "
            "address too. You only know your name and old ZIP code, not your email."),
        actions=[
            _call("find_user_id_by_name_zip", first_name="Jonas", last_name="Turner", zip="02124"),
            _call("get_user_details", user_id="jonas_turner_8202"),
            _call("modify_user_address", user_id="jonas_turner_8202", address1="2261 Pine Road",
                  address2="Apt 763", city="Tucson", state="AZ", country="USA", zip="85735"),
            _call("get_order_details", order_id="#W5558191"),
            _call("modify_pending_order_address", order_id="#W5558191", address1="2261 Pine Road",
                  address2="Apt 763", city="Tucson", state="AZ", country="USA", zip="85735"),
        ],
        write_tools=["modify_user_address", "modify_pending_order_address"],
    ),
    ExampleTask(
        instruction=(
            "You are Mia Anderson, email mia.anderson1306@inbox.example. You ordered a tent and a vacuum "
            "cleaner (order #W7520090) and want the tracking number of the shipment. You don't want to change "
            "anything."),
        actions=[
            _call("find_user_id_by_email", email="mia.anderson1306@inbox.example"),
            _call("get_user_details", user_id="mia_anderson_1306"),
            _call("get_order_details", order_id="#W7520090"),
        ],
        outputs=["161921318165"],
        write_tools=[],
    ),
    ExampleTask(
        instruction=(
            "You are Ava Collins and you give your user id, ava_collins_3853, when asked who you are. You want "
            "to cancel pending order #W2946649 because you ordered it by mistake, and return the sleeping bag "
            "from delivered order #W8035327 (keep the office chair), refunded to your PayPal. If the return is "
            "not possible, still go ahead with the cancellation."),
        actions=[
            _call("get_user_details", user_id="ava_collins_3853"),
            _call("get_order_details", order_id="#W2946649"),
            _call("cancel_pending_order", order_id="#W2946649", reason="ordered by mistake"),
            _call("get_order_details", order_id="#W8035327"),
            _call("return_delivered_order_items", order_id="#W8035327", item_ids=["2158260647"],
                  payment_method_id="paypal_5020391"),
        ],
        write_tools=["cancel_pending_order", "return_delivered_order_items"],
    ),
)
