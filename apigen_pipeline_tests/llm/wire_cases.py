"""What the wire-level gateway tests ask: a small structured-output schema the deterministic responder fills."""

TASK_SCHEMA = {"type": "object", "properties": {"instruction": {"type": "string"}, "priority": {"type": "integer"}},
               "required": ["instruction", "priority"]}
