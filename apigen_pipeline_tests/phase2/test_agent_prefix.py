"""The agent's static prefix (system prompt + tools) is byte-identical across turns and across episodes of a
domain, so a provider's prefix cache can hit: checked on the bodies the official SDK put on the wire."""

from __future__ import annotations

import json
from collections import defaultdict
from functools import partial
from types import SimpleNamespace

from apigen_pipeline.llm.config import LLMSettings
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.phase2.models import Phase2Settings
from apigen_pipeline.phase2.runner import run_phase2
from apigen_pipeline.testing.simulated_wire import simulated_responder
from apigen_pipeline.testing.wire_servers import OpenAIWireServer
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline_tests.phase2.helpers import cancel_blueprint, mock_environment


def prefix_bytes(body: dict) -> bytes:
    """What a provider caches first: the tool definitions and the system message, as sent."""
    return json.dumps({"tools": body["tools"], "system": body["messages"][0]}, ensure_ascii=False).encode()


def test_agent_requests_of_two_episodes_share_a_byte_identical_prefix(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    environment = mock_environment()
    with OpenAIWireServer(simulated_responder("openai", environments={environment.name: environment})) as server:
        settings = LLMSettings(backend_override="openai:wire-model", backend_base_url=server.base_url)
        context = CallContext(domain=environment.name, batch="b1", run_id="prefix", asset="trajectories")
        with RequestLog(Warehouse(tmp_path / "w.duckdb"), background=False) as log:
            client = SimpleNamespace(complete_many=partial(LLMGateway(settings, log).complete_many, context=context))
            run_phase2([cancel_blueprint(environment, 0), cancel_blueprint(environment, 1)], environment, client,
                       Phase2Settings(attempts_per_blueprint=1, best_of_n=1), environment.name)
        agent_bodies = [r.body for r in sorted(server.requests, key=lambda r: r.call_index) if r.body.get("tools")]

    episodes: dict[str, list[dict]] = defaultdict(list)  # by the user's opening message
    for body in agent_bodies:
        episodes[body["messages"][1]["content"]].append(body)
    assert len(episodes) == 2 and all(len(turns) >= 2 for turns in episodes.values())
    assert len({prefix_bytes(body) for body in agent_bodies}) == 1
    assert body["messages"][0]["role"] == "system" and len(body["tools"]) == len(environment.tool_specs)
    for turns in episodes.values():  # each turn re-sends the previous turn's messages unchanged, then appends
        for earlier, later in zip(turns, turns[1:], strict=False):
            assert later["messages"][: len(earlier["messages"])] == earlier["messages"]
