from __future__ import annotations

from apigen_pipeline.simulated.prompt_json import GroundingIndex, extract_json_blocks


def test_finds_json_in_context_tags_fences_and_bare_text() -> None:
    text = (
        'Data:\n<context>{"user": {"user_id": "noah_1"}}</context>\n'
        'Example:\n```json\n[{"order_id": "#W0000001"}]\n```\n'
        'Also {"note": "inline"} here.'
    )
    assert extract_json_blocks(text) == (
        {"user": {"user_id": "noah_1"}},
        [{"order_id": "#W0000001"}],
        {"note": "inline"},
    )


def test_skips_broken_json_and_braces_in_prose_but_finds_what_follows() -> None:
    text = 'Use {curly} braces [like this] or {"broken": } then {"ok": true}'
    assert extract_json_blocks(text) == ({"ok": True},)


def test_nested_values_are_returned_once_as_their_outermost_block() -> None:
    blocks = extract_json_blocks('{"a": {"b": [1, 2]}}')
    assert blocks == ({"a": {"b": [1, 2]}},)


def test_text_without_json_gives_nothing() -> None:
    assert extract_json_blocks("no data here") == ()
    assert extract_json_blocks(None) == ()
    assert extract_json_blocks("") == ()


def test_index_keeps_first_appearance_order_without_duplicates() -> None:
    index = GroundingIndex.from_values([{"order_id": "#W2"}, {"x": {"order_id": "#W1"}}, {"order_id": "#W2"}])
    assert list(index.candidates("order_id")) == ["#W2", "#W1"]


def test_index_relates_ids_to_plural_lists_object_keys_and_singular_keys() -> None:
    index = GroundingIndex.from_values([
        {"orders": ["#W1", "#W2"], "payment_methods": {"credit_card_1": {"brand": "visa"}, "gift_card_2": {}}},
        {"items": [{"item_id": "111"}, {"item_id": "222"}]},
    ])
    assert list(index.candidates("order_id")) == ["#W1", "#W2"]
    assert list(index.candidates("payment_method_id")) == ["credit_card_1", "gift_card_2"]
    assert list(index.candidates("item_ids")) == ["111", "222"]
    assert list(index.candidates("reservation_id")) == []


def test_exact_key_wins_over_related_keys() -> None:
    index = GroundingIndex.from_values([{"orders": ["#W1"], "order_id": "#W9"}])
    assert list(index.candidates("order_id")) == ["#W9"]
