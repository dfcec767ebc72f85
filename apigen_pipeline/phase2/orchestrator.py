"""Many human-agent episodes run in lockstep, so the LLM gateway can fan a whole partition out at once.

Each step collects the pending requests of every active episode (N human candidates, their critic
scores, or one agent turn), sends them in one `complete_many`, and advances each episode with its own
results. An episode is a small state machine: human -> (critic) -> agent -> ... -> done. LLM failures end
an episode with the end reason `provider_failure`; they are data, never exceptions.

Requests carry tags (blueprint id, attempt, turn) so every request is unique and cacheable: a re-run
with the same answers rebuilds the same requests, which the request log then answers without sending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from apigen_pipeline.environments.base import Environment, Session
from apigen_pipeline.llm.client import LLMClient
from apigen_pipeline.llm.types import LLMRequest, LLMResult, ToolCallData, ToolSchema
from apigen_pipeline.phase2.agent import agent_request, interpret_agent_result
from apigen_pipeline.phase2.human import (
    candidate_text,
    choose_best,
    critic_request,
    human_requests,
    parse_critic,
)
from apigen_pipeline.phase2.models import (
    STOP_TOKEN,
    EndReason,
    ExecutedToolCall,
    Phase2Settings,
    TrajectoryMessage,
    UserTurnCandidate,
)

Phase = Literal["human", "critic", "agent", "done"]


@dataclass(frozen=True)
class EpisodeSpec:
    trajectory_id: str
    blueprint_id: str
    attempt_index: int
    instruction: str
    human_system_text: str
    tags: Mapping[str, str]  # lineage tags shared by every request of the episode


@dataclass(frozen=True)
class AgentSetup:
    """What every agent request of a domain shares: the static system prompt and the tool schemas; and
    the environment's terminating tools, whose successful call ends the episode (reason `transfer`)."""

    system_text: str
    tools: list[ToolSchema]
    terminating_tools: frozenset[str] = frozenset()

    @property
    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.tools]


@dataclass
class Episode:
    spec: EpisodeSpec
    session: Session
    agent: AgentSetup
    settings: Phase2Settings
    phase: Phase = "human"
    messages: list[TrajectoryMessage] = field(default_factory=list)
    executed: list[ExecutedToolCall] = field(default_factory=list)
    candidates: list[UserTurnCandidate] = field(default_factory=list)
    request_keys: list[str] = field(default_factory=list)
    protocol_violations: list[str] = field(default_factory=list)
    user_turns: int = 0
    agent_steps: int = 0
    end_reason: EndReason | None = None
    end_detail: str = ""
    _turn_candidates: list[UserTurnCandidate] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def _tags(self, **extra: str) -> dict[str, str]:
        return {**self.spec.tags, "blueprint_id": self.spec.blueprint_id, "attempt": str(self.spec.attempt_index),
                **extra}

    # -- the next requests ---------------------------------------------------------------------
    def requests(self) -> list[LLMRequest]:
        if self.phase == "human":
            return human_requests(self.spec.human_system_text, self.messages,
                                  self._tags(turn=str(self.user_turns), step="human"), self.settings)
        if self.phase == "critic":
            return [critic_request(self.spec.instruction, self.messages, c.text or "", c.sample_index,
                                   self._tags(turn=str(self.user_turns), step="critic"), self.settings)
                    for c in self._turn_candidates if c.text is not None]
        if self.phase == "agent":
            return [agent_request(self.agent.system_text, self.agent.tools, self.messages,
                                  self._tags(turn=str(self.agent_steps), step="agent"), self.settings)]
        return []

    # -- advancing with the answers ----------------------------------------------------------
    def advance(self, results: Sequence[LLMResult]) -> None:
        self.request_keys.extend(r.request_key for r in results)
        if self.phase == "human":
            self._take_candidates(results)
        elif self.phase == "critic":
            self._take_scores(results)
        elif self.phase == "agent":
            self._take_agent_turn(results[0])

    def _take_candidates(self, results: Sequence[LLMResult]) -> None:
        turn: list[UserTurnCandidate] = []
        for index, result in enumerate(results):
            text, failure = candidate_text(result)
            turn.append(UserTurnCandidate(turn_index=self.user_turns, sample_index=index, text=text,
                                          request_key=result.request_key, failure=failure))
        self._turn_candidates = turn
        usable = [c for c in turn if c.text is not None]
        if not usable:
            self.candidates.extend(turn)  # kept for the record although no turn is sent
            reasons = "; ".join(sorted({c.failure or "" for c in turn}))
            self._finish("provider_failure", f"no user turn: {reasons}")
        elif len(usable) == 1:
            # One usable candidate: nothing to choose between, so the critic is not asked.
            self._commit_user_turn()
        else:
            self.phase = "critic"

    def _take_scores(self, results: Sequence[LLMResult]) -> None:
        scored = iter(results)
        updated: list[UserTurnCandidate] = []
        for candidate in self._turn_candidates:
            if candidate.text is None:
                updated.append(candidate)
                continue
            result = next(scored)
            score, reason, failure = parse_critic(result)
            updated.append(candidate.model_copy(update={"score": score, "reason": reason, "failure": failure,
                                                        "critic_request_key": result.request_key}))
        self._turn_candidates = updated
        self._commit_user_turn()

    def _commit_user_turn(self) -> None:
        best = choose_best(self._turn_candidates)
        assert best is not None  # callers only commit when a usable candidate exists
        turn = [c.model_copy(update={"chosen": index == best}) for index, c in enumerate(self._turn_candidates)]
        self.candidates.extend(turn)
        self._turn_candidates = []
        text = turn[best].text or ""
        self.messages.append(TrajectoryMessage(role="user", content=text))
        self.user_turns += 1
        if STOP_TOKEN in text:
            self._finish("user_stop")
        else:
            self.phase = "agent"

    def _take_agent_turn(self, result: LLMResult) -> None:
        reply = interpret_agent_result(result, self.settings, self.agent.tool_names)
        if reply.failure is not None:
            self._finish("provider_failure", reply.failure)
            return
        self.agent_steps += 1
        if reply.extra_calls:
            dropped = ", ".join(call.name for call in reply.extra_calls)
            self.protocol_violations.append(
                f"agent step {self.agent_steps}: {len(reply.extra_calls) + 1} tool calls in one reply; "
                f"executed the first, dropped: {dropped}")
        if reply.call is not None:
            self._execute(reply.text, reply.call)
            if reply.call.name in self.agent.terminating_tools and self.executed[-1].ok:
                self._finish("transfer")
                return
            next_phase: Phase = "agent"
        else:
            self.messages.append(TrajectoryMessage(role="assistant", content=reply.text))
            next_phase = "human"
        if self.agent_steps >= self.settings.max_agent_steps:
            self._finish("turn_limit", f"{self.agent_steps} agent steps")
        elif next_phase == "human" and self.user_turns >= self.settings.max_user_turns:
            self._finish("turn_limit", f"{self.user_turns} user turns")
        else:
            self.phase = next_phase

    def _execute(self, text: str | None, call: ToolCallData) -> None:
        # Ids are renumbered per episode: providers may repeat ids, and exports need unique, stable ones.
        call_id = f"call_{len(self.executed):03d}"
        typed = ToolCallData(id=call_id, name=call.name, arguments=call.arguments)
        self.messages.append(TrajectoryMessage(role="assistant", content=text, tool_calls=[typed]))
        message_index = len(self.messages) - 1
        executed = self.session.execute(call.name, call.arguments)
        self.messages.append(TrajectoryMessage(role="tool", content=executed.observation, tool_call_id=call_id,
                                               name=call.name))
        self.executed.append(ExecutedToolCall(call_id=call_id, name=executed.name, arguments=executed.arguments,
                                              observation=executed.observation, ok=executed.ok,
                                              kind=executed.kind, message_index=message_index))

    def _finish(self, reason: EndReason, detail: str = "") -> None:
        self.end_reason = reason
        self.end_detail = detail
        self.phase = "done"


def new_episode(spec: EpisodeSpec, environment: Environment, agent: AgentSetup, settings: Phase2Settings) -> Episode:
    return Episode(spec=spec, session=environment.new_session(), agent=agent, settings=settings)


def run_episodes(episodes: Sequence[Episode], client: LLMClient) -> int:
    """Advance every episode to its end; one `complete_many` per step. Returns the number of steps."""
    steps = 0
    while True:
        batch: list[LLMRequest] = []
        spans: list[tuple[Episode, int, int]] = []
        for episode in episodes:
            if episode.done:
                continue
            requests = episode.requests()
            spans.append((episode, len(batch), len(requests)))
            batch.extend(requests)
        if not spans:
            return steps
        results = client.complete_many(batch)
        if len(results) != len(batch):
            raise RuntimeError(f"LLM client returned {len(results)} results for {len(batch)} requests")
        steps += 1
        for episode, start, count in spans:
            episode.advance(results[start:start + count])
