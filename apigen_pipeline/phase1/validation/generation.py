"""Stage "generation": did the generator LLM answer with a parseable reply holding a blueprint?"""

from __future__ import annotations

import json
from typing import Any

from apigen_pipeline.llm.types import LLMResult
from apigen_pipeline.phase1.models import StageVerdict


def parsed_reply(result: LLMResult) -> Any:
    """The reply's JSON: the gateway's validated `parsed`, else the text decoded here (None if neither)."""
    response = result.response
    if response is None:
        return None
    if response.parsed is not None:
        return response.parsed
    try:
        return json.loads(response.text or "")
    except json.JSONDecodeError:
        return None


def llm_failure_verdict(stage: str, result: LLMResult) -> StageVerdict:
    kind = result.error_kind.value if result.error_kind is not None else result.status
    return StageVerdict(stage=stage, passed=False, reason=f"{stage}.llm_{kind}",  # type: ignore[arg-type]
                        details={"status": result.status, "error": result.error_message or ""})


def check_generation(result: LLMResult) -> tuple[Any, StageVerdict]:
    """The raw blueprint object the reply holds, and the verdict on the reply itself."""
    if not result.ok:
        return None, llm_failure_verdict("generation", result)
    reply = parsed_reply(result)
    if not isinstance(reply, dict):
        return None, StageVerdict(stage="generation", passed=False, reason="generation.invalid_output",
                                  details={"error": "the reply is not a JSON object"})
    blueprint = reply.get("blueprint")
    if not isinstance(blueprint, dict):
        return None, StageVerdict(stage="generation", passed=False, reason="generation.invalid_output",
                                  details={"error": "the reply has no 'blueprint' object"})
    return blueprint, StageVerdict(stage="generation", passed=True)
