"""Schemas the simulated backend must satisfy: tau-like tool parameters and assorted response shapes."""

from __future__ import annotations

from typing import Any

from apigen_pipeline.llm.types import ToolSchema

ORDER_ID = {"type": "string", "pattern": r"^#W\d{7}$", "description": "The order id, such as '#W0000000'."}
ITEM_ID = {"type": "string", "pattern": r"^\d{10}$"}

TAU_LIKE_PARAMETERS: dict[str, dict[str, Any]] = {
    "find_user_id_by_name_zip": {
        "type": "object",
        "properties": {
            "first_name": {"type": "string"},
            "last_name": {"type": "string"},
            "zip": {"type": "string", "pattern": r"^\d{5}$"},
        },
        "required": ["first_name", "last_name", "zip"],
        "additionalProperties": False,
    },
    "cancel_pending_order": {
        "type": "object",
        "properties": {
            "order_id": ORDER_ID,
            "reason": {"type": "string", "enum": ["no longer needed", "ordered by mistake"]},
        },
        "required": ["order_id", "reason"],
        "additionalProperties": False,
    },
    "modify_pending_order_items": {
        "type": "object",
        "properties": {
            "order_id": ORDER_ID,
            "item_ids": {"type": "array", "items": ITEM_ID, "minItems": 1},
            "new_item_ids": {"type": "array", "items": ITEM_ID, "minItems": 1},
            "payment_method_id": {"type": "string", "minLength": 3},
        },
        "required": ["order_id", "item_ids", "new_item_ids", "payment_method_id"],
        "additionalProperties": False,
    },
    "modify_user_address": {
        "type": "object",
        "properties": {
            "user_id": {"type": "string"},
            "address1": {"type": "string"},
            "address2": {"type": "string"},
            "city": {"type": "string"},
            "state": {"type": "string", "minLength": 2, "maxLength": 2},
            "country": {"type": "string"},
            "zip": {"type": "string", "pattern": r"^\d{5}$"},
        },
        "required": ["user_id", "address1", "address2", "city", "state", "country", "zip"],
        "additionalProperties": False,
    },
    "book_reservation": {
        "type": "object",
        "properties": {
            "user_id": {"type": "string"},
            "origin": {"type": "string", "pattern": r"^[A-Z]{3}$"},
            "destination": {"type": "string", "pattern": r"^[A-Z]{3}$"},
            "flight_type": {"type": "string", "enum": ["one_way", "round_trip"]},
            "cabin": {"type": "string", "enum": ["basic_economy", "economy", "business"]},
            "flights": {
                "type": "array",
                "minItems": 1,
                "maxItems": 4,
                "items": {
                    "type": "object",
                    "properties": {
                        "flight_number": {"type": "string", "pattern": r"^HAT\d{3}$"},
                        "date": {"type": "string", "format": "date"},
                    },
                    "required": ["flight_number", "date"],
                    "additionalProperties": False,
                },
            },
            "passengers": {
                "type": "array",
                "minItems": 1,
                "maxItems": 5,
                "items": {"$ref": "#/$defs/passenger"},
            },
            "payment_methods": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"payment_id": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
                    "required": ["payment_id", "amount"],
                },
            },
            "total_baggages": {"type": "integer", "minimum": 0, "maximum": 10},
            "nonfree_baggages": {"type": "integer", "minimum": 0},
            "insurance": {"type": "string", "enum": ["yes", "no"]},
        },
        "required": ["user_id", "origin", "destination", "flight_type", "cabin", "flights", "passengers",
                     "payment_methods", "total_baggages", "nonfree_baggages", "insurance"],
        "additionalProperties": False,
        "$defs": {
            "passenger": {
                "type": "object",
                "properties": {
                    "first_name": {"type": "string", "minLength": 1},
                    "last_name": {"type": "string", "minLength": 1},
                    "dob": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                },
                "required": ["first_name", "last_name", "dob"],
            }
        },
    },
    "calculate": {
        "type": "object",
        "properties": {"expression": {"type": "string", "pattern": r"^[0-9+\-*/(). ]+$"}},
        "required": ["expression"],
    },
    "transfer_to_human_agents": {
        "type": "object",
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
    },
}

TAU_LIKE_TOOLS = [
    ToolSchema(name=name, description=f"Tau-like tool {name}.", parameters=parameters)
    for name, parameters in TAU_LIKE_PARAMETERS.items()
]

_BLUEPRINT = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "instruction": {"type": "string", "minLength": 10},
        "actions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "arguments": {"type": "object"}},
                "required": ["name", "arguments"],
            },
        },
        "outputs": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["reasoning", "instruction", "actions", "outputs"],
}

_JUDGE_VOTE = {
    "type": "object",
    "properties": {
        criterion: {"type": "boolean"} for criterion in ("correctness", "completeness", "satisfaction", "creativity")
    }
    | {"reflection": {"type": "string", "maxLength": 200}, "suggested_correction": {"type": ["string", "null"]}},
    "required": ["correctness", "completeness", "satisfaction", "creativity", "reflection"],
    "additionalProperties": False,
}

_NEXT_ACTION = {
    "anyOf": [
        {
            "type": "object",
            "properties": {"action": {"const": name}, "arguments": {"$ref": f"#/$defs/{name}"}},
            "required": ["action", "arguments"],
        }
        for name in ("cancel_pending_order", "modify_pending_order_items", "find_user_id_by_name_zip")
    ]
    + [{"type": "object", "properties": {"action": {"const": "reply"}, "content": {"type": "string"}},
        "required": ["action", "content"]}],
    "$defs": {name: TAU_LIKE_PARAMETERS[name]
              for name in ("cancel_pending_order", "modify_pending_order_items", "find_user_id_by_name_zip")},
}

_TREE = {
    "$ref": "#/$defs/node",
    "$defs": {
        "node": {
            "type": "object",
            "properties": {"label": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            "required": ["label", "children"],
        }
    },
}

RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "blueprint": _BLUEPRINT,
    "judge_vote": _JUDGE_VOTE,
    "next_action": _NEXT_ACTION,
    "recursive_tree": _TREE,
    "critic_score": {"type": "object", "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 10}},
                     "required": ["score"]},
    "scalars": {
        "type": "object",
        "properties": {
            "flag": {"type": "boolean"},
            "nothing": {"type": "null"},
            "fixed": {"const": "v1"},
            "either": {"type": ["integer", "string"]},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "step": {"type": "integer", "multipleOf": 5, "minimum": 12, "maximum": 60},
            "half": {"type": "number", "multipleOf": 0.5, "minimum": 1, "maximum": 3},
            "negative": {"type": "number", "maximum": -50},
        },
        "required": ["flag", "nothing", "fixed", "either", "ratio", "step", "half", "negative"],
    },
    "formats": {
        "type": "object",
        "properties": {fmt.replace("-", "_"): {"type": "string", "format": fmt}
                       for fmt in ("date", "date-time", "email", "uri", "uuid", "ipv4", "hostname", "time")},
        "required": ["date", "date_time", "email", "uri", "uuid", "ipv4", "hostname", "time"],
    },
    "patterns": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": r"^[A-Z]{3}-\d{2,4}$"},
            "choice": {"type": "string", "pattern": r"^(alpha|beta|gamma)_[a-z]+$"},
            "email_like": {"type": "string", "pattern": r"^[a-z]+\.[a-z]+@[a-z]+\.com$"},
            "hex": {"type": "string", "pattern": r"^0x[0-9a-f]{8}$"},
            "not_digits": {"type": "string", "pattern": r"^[^0-9]{3,5}$"},
            "repeat": {"type": "string", "pattern": r"^(ab)\1-\w+$"},
            "lengths": {"type": "string", "minLength": 20, "maxLength": 25},
        },
        "required": ["code", "choice", "email_like", "hex", "not_digits", "repeat", "lengths"],
    },
    "arrays": {
        "type": "object",
        "properties": {
            "unique_enum": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True,
                            "minItems": 2, "maxItems": 3},
            "tuple": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False,
                      "minItems": 2},
            "bounded": {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4},
            "with_contains": {"type": "array", "items": {"type": "integer"}, "contains": {"const": 7}},
        },
        "required": ["unique_enum", "tuple", "bounded", "with_contains"],
    },
    "combinators": {
        "type": "object",
        "properties": {
            "all": {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                              {"properties": {"b": {"type": "string"}}, "required": ["b"]}]},
            "one": {"oneOf": [{"type": "integer", "maximum": 10}, {"type": "integer", "minimum": 5}]},
            "any": {"anyOf": [{"type": "string", "format": "email"}, {"type": "null"}]},
            "ref_with_sibling": {"$ref": "#/$defs/base", "required": ["extra"],
                                 "properties": {"extra": {"type": "boolean"}}},
        },
        "required": ["all", "one", "any", "ref_with_sibling"],
        "$defs": {"base": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}},
    },
    "open_object": {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 2},
    "untyped": {"properties": {"x": {"minimum": 3, "maximum": 4}, "y": {"items": {"type": "boolean"}}},
                "required": ["x", "y"]},
    "top_level_array": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}, "minItems": 1},
    "top_level_scalar": {"type": "integer", "minimum": 1000},
}

DRAFT7_SCHEMAS: dict[str, dict[str, Any]] = {
    "draft7_tuple": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "array",
        "items": [{"type": "string"}, {"type": "boolean"}],
        "additionalItems": False,
        "minItems": 2,
        "definitions": {"unused": {"type": "null"}},
    },
    "draft4_exclusive_flags": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 3,
                             "exclusiveMaximum": True}},
        "required": ["n"],
    },
}

ALL_SCHEMAS: dict[str, dict[str, Any]] = (
    {f"tool:{name}": parameters for name, parameters in TAU_LIKE_PARAMETERS.items()}
    | RESPONSE_SCHEMAS
    | DRAFT7_SCHEMAS
)
