"""Reusable test helpers: local servers speaking the OpenAI and Anthropic wire formats."""

from apigen_pipeline.simulated.schema_values import value_for_schema
from apigen_pipeline.testing.wire_servers import (
    AnthropicWireServer,
    FaultPlan,
    OpenAIWireServer,
    RecordedRequest,
    Responder,
    WireReply,
    WireServer,
    WireToolCall,
    WireUsage,
    body_hash,
    deterministic_responder,
)

__all__ = [
    "AnthropicWireServer",
    "FaultPlan",
    "OpenAIWireServer",
    "RecordedRequest",
    "Responder",
    "WireReply",
    "WireServer",
    "WireToolCall",
    "WireUsage",
    "body_hash",
    "deterministic_responder",
    "value_for_schema",
]
