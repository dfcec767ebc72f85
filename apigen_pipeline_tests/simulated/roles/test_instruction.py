from apigen_pipeline.environments.base import ToolCall
from apigen_pipeline.simulated.roles.instruction import request_sentence


def test_request_sentence_fills_templates_and_names_ids_the_template_omits():
    assert request_sentence(ToolCall("cancel_order", {"order_id": "O1"}), "Please cancel order {order_id}.") == \
        "Please cancel order O1."
    sentence = request_sentence(ToolCall("rename_user", {"user_id": "u1", "nickname": "z"}),
                                "Please change my nickname to {nickname}.")
    assert "z" in sentence and "u1" in sentence
    assert "O1" in request_sentence(ToolCall("cancel_order", {"order_id": "O1"}), None)
