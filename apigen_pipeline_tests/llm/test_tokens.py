from __future__ import annotations

import json

import pytest

from apigen_pipeline.llm.tokens import (
    estimate_output_tokens,
    estimate_request_tokens,
    estimate_tokens,
)
from apigen_pipeline.llm.types import ChatMessage, LLMRequest, ToolCallData, ToolSchema

ENGLISH = (
    "As a retail agent, you can help users cancel or modify pending orders, return or exchange delivered "
    "orders, modify their default user address, or provide information about their own profile, orders, "
    "and related products. At the beginning of the conversation, you have to authenticate the user identity "
    "by locating their user id via email, or via name and zip code. This has to be done even when the user "
    "already provides the user id."
)


# cl100k_base counts: the two sentences are widely quoted; the JSON is split by hand the way BPE does:
# {" | order | _id | ": | ␣"# | W | 000 | 1 | "}
@pytest.mark.parametrize(("text", "reference"), [
    ("Hello, world!", 4),
    ("The quick brown fox jumps over the lazy dog.", 10),
    ('{"order_id": "#W0001"}', 9),
])
def test_known_short_texts_are_close_to_a_bpe_tokenizer(text: str, reference: int) -> None:
    assert abs(estimate_tokens(text) - reference) <= 1


def test_english_prose_is_about_four_characters_per_token() -> None:
    assert 3.4 <= len(ENGLISH) / estimate_tokens(ENGLISH) <= 5.0


def test_json_is_denser_than_prose() -> None:
    data = json.dumps({"user_id": "noah_brown_6181", "orders": ["#W4817420", "#W6679257"],
                       "address": {"city": "Denver", "zip": "80279", "state": "CO"}}, indent=2)
    chars_per_token = len(data) / estimate_tokens(data)
    assert 2.0 <= chars_per_token <= 3.6


def test_long_words_and_numbers_cost_more_than_short_ones() -> None:
    assert estimate_tokens("internationalization") > estimate_tokens("nation")
    assert estimate_tokens("1234567890") > estimate_tokens("123")
    assert estimate_tokens("") == 0
    assert estimate_tokens(None) == 0


def test_non_ascii_characters_count_one_each() -> None:
    assert estimate_tokens("日本語") == 3


def _request(**extra: object) -> LLMRequest:
    return LLMRequest(role="agent", messages=[ChatMessage(role="user", content=ENGLISH)], **extra)


def test_request_estimate_counts_tools_and_response_schema() -> None:
    base = estimate_request_tokens(_request())
    tool = ToolSchema(name="cancel_pending_order", description="Cancel a pending order.",
                      parameters={"type": "object", "properties": {"order_id": {"type": "string"}}})
    with_tool = estimate_request_tokens(_request(tools=[tool]))
    with_schema = estimate_request_tokens(_request(response_schema={"type": "object", "properties": {
        "answer": {"type": "string"}}}))
    assert base > estimate_tokens(ENGLISH)
    assert with_tool - base >= estimate_tokens(json.dumps(tool.parameters))
    assert with_schema > base


def test_request_estimate_counts_earlier_tool_calls() -> None:
    call = ToolCallData(id="c1", name="get_order_details", arguments={"order_id": "#W4817420"})
    plain = _request()
    with_call = _request()
    with_call.messages.append(ChatMessage(role="assistant", tool_calls=[call]))
    assert estimate_request_tokens(with_call) > estimate_request_tokens(plain) + 5


def test_output_estimate_counts_text_and_tool_calls() -> None:
    assert estimate_output_tokens("ok") == estimate_tokens("ok")
    assert estimate_output_tokens(None, [("get_order_details", {"order_id": "#W1"})]) > estimate_tokens("get_order_details")
