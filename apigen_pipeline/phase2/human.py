"""The simulated human: sees only the instruction and persona, stabilized by best-of-N with a critic.

The human never sees tools, tool results or the database: its view of the conversation is the agent's
text replies (as the other party) and its own earlier turns. Each user turn is N candidate requests that
differ only in `sample_index`; a critic scores every answered candidate 0-10 against the instruction
(`{score, reason}`) and the best one is sent. All candidates and scores are kept for the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from apigen_pipeline.environments.personas import persona
from apigen_pipeline.llm.types import ChatMessage, LLMRequest, LLMResult, SamplingParams
from apigen_pipeline.phase2.models import Phase2Settings, TrajectoryMessage, UserTurnCandidate
from apigen_pipeline.phase2.prompts import dumps, prompt_version, render

# What the agent side "says" first; the human answers it. Not part of the stored trajectory.
AGENT_GREETING = "Hi! How can I help you today?"

CRITIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 10}, "reason": {"type": "string"}},
    "required": ["score", "reason"],
}


def persona_text(persona_id: str) -> str:
    """The persona description for an id "persona-NNNNNN" (empty when the id is not one of ours)."""
    prefix = "persona-"
    if persona_id.startswith(prefix) and persona_id[len(prefix):].isdigit():
        return persona(int(persona_id[len(prefix):])).description
    return ""


def human_system_text(instruction: str, persona_description: str, domain: str, version: str) -> str:
    return render("human", version, "system", domain=domain, instruction=instruction,
                  persona=persona_description or "(no persona given)")


def human_view(messages: Sequence[TrajectoryMessage]) -> list[ChatMessage]:
    """The conversation from the human's side: the agent speaks as "user", the human as "assistant"."""
    view = [ChatMessage(role="user", content=AGENT_GREETING)]
    for message in messages:
        if message.role == "user":
            view.append(ChatMessage(role="assistant", content=message.content or ""))
        elif message.role == "assistant" and message.content:
            view.append(ChatMessage(role="user", content=message.content))
    return view


def human_requests(system_text: str, messages: Sequence[TrajectoryMessage], tags: Mapping[str, str],
                   settings: Phase2Settings) -> list[LLMRequest]:
    history = [ChatMessage(role="system", content=system_text), *human_view(messages)]
    version = prompt_version("human", settings.prompts.human)
    first = LLMRequest(role="human", messages=history, prompt_version=version,
                       sampling=SamplingParams(temperature=settings.human_temperature, max_tokens=settings.max_tokens),
                       tags=dict(tags))
    # The N candidates are one prompt sampled N times: copies that differ only in sample_index.
    return [first, *(first.model_copy(update={"sample_index": index}) for index in range(1, settings.best_of_n))]


def conversation_for_critic(messages: Sequence[TrajectoryMessage]) -> list[dict[str, str]]:
    turns = [{"speaker": "agent", "text": AGENT_GREETING}]
    for message in messages:
        if message.role == "user":
            turns.append({"speaker": "customer", "text": message.content or ""})
        elif message.role == "assistant" and message.content:
            turns.append({"speaker": "agent", "text": message.content})
    return turns


def critic_request(instruction: str, messages: Sequence[TrajectoryMessage], candidate: str, sample_index: int,
                   tags: Mapping[str, str], settings: Phase2Settings) -> LLMRequest:
    version = settings.prompts.critic
    user_text = render("critic", version, "user", instruction=instruction,
                       conversation=dumps(conversation_for_critic(messages)), candidate=candidate)
    return LLMRequest(
        role="critic",
        messages=[ChatMessage(role="system", content=render("critic", version, "system"), cacheable=True),
                  ChatMessage(role="user", content=user_text)],
        response_schema=CRITIC_SCHEMA, response_schema_name="critic",
        prompt_version=prompt_version("critic", version),
        sampling=SamplingParams(temperature=settings.critic_temperature, max_tokens=256),
        tags={**tags, "candidate": str(sample_index)},
    )


def candidate_text(result: LLMResult) -> tuple[str | None, str | None]:
    """(text, failure): a failed request or an empty reply gives no usable candidate."""
    if not result.ok or result.response is None:
        return None, f"human {result.status}: {result.error_kind or ''} {result.error_message or ''}".strip()
    text = (result.response.text or "").strip()
    return (text, None) if text else (None, "empty reply")


def parse_critic(result: LLMResult) -> tuple[int | None, str, str | None]:
    """(score, reason, failure): a failed or malformed critic answer leaves the candidate unscored."""
    if not result.ok or result.response is None:
        return None, "", f"critic {result.status}: {result.error_kind or ''} {result.error_message or ''}".strip()
    parsed = result.response.parsed
    if not isinstance(parsed, dict) or isinstance(parsed.get("score"), bool) \
            or not isinstance(parsed.get("score"), int | float):
        return None, "", "critic reply has no numeric score"
    score = int(max(0, min(10, round(parsed["score"]))))
    return score, str(parsed.get("reason", "")), None


def choose_best(candidates: Sequence[UserTurnCandidate]) -> int | None:
    """Index of the highest-scored candidate with text; ties go to the lowest sample index.

    Unscored candidates rank below every scored one, so a critic outage still yields a turn.
    """
    usable = [(index, c) for index, c in enumerate(candidates) if c.text is not None]
    if not usable:
        return None
    return max(usable, key=lambda item: (item[1].score if item[1].score is not None else -1,
                                         -item[1].sample_index))[0]
