"""Phase 1 and Phase 2 through the real OpenAI and Anthropic SDKs over HTTP.

The whole graph is materialized in-process (as in the defs tests) on the mock domain with
`backend_override: configured`: the generator, summarizer, recombiner, human, critic and agent go to an
OpenAI wire server, and the review committee mixes one OpenAI judge with two Anthropic judges. Both servers
answer like the offline simulated backend (`testing.simulated_wire`) and accept only the keys the test
planted in the environment. The graph is run twice: the second run must send nothing.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from apigen_pipeline.config import DomainConfig, PipelineConfig
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.automation.batches import BATCH_JOB_NAME
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.llm.config import DEFAULT_PRICES
from apigen_pipeline.llm.pricing import cost_of
from apigen_pipeline.llm.prompt_cache import OPENAI_RULE, PrefixCache
from apigen_pipeline.llm.tokens import estimate_request_tokens
from apigen_pipeline.llm.types import LLMRequest, Usage
from apigen_pipeline.paths import exports_dir, spool_dir, warehouse_path
from apigen_pipeline.simulated import Phase2SimulationRates, is_repair_request
from apigen_pipeline.testing.simulated_wire import WireProvider, request_from_body, simulated_responder
from apigen_pipeline.testing.wire_servers import (
    AnthropicWireServer,
    OpenAIWireServer,
    RecordedRequest,
    Responder,
    WireReply,
)
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline_tests.conftest import MOCK_DOMAIN

pytestmark = pytest.mark.slow

DOMAIN = "mockshop"
BATCH = "2026-11-24"
CONTEXTS = 6
OPENAI_KEY_ENV, ANTHROPIC_KEY_ENV = "APIGEN_WIRE_TEST_OPENAI_KEY", "APIGEN_WIRE_TEST_ANTHROPIC_KEY"
PLANTED_OPENAI_KEY = "sk-test-PLANTED-SECRET-XYZ"
PLANTED_ANTHROPIC_KEY = "sk-ant-test-PLANTED-SECRET-XYZ"
ANTHROPIC_JUDGES = ("claude-3-5-sonnet-latest", "claude-3-5-haiku-latest")
RETAIL_WRITE_TOOLS = {"cancel_pending_order", "modify_pending_order_address", "modify_pending_order_payment",
                      "modify_pending_order_items", "modify_user_address", "return_delivered_order_items",
                      "exchange_delivered_order_items"}
LLM_ASSETS = ("blueprints", "trajectories", "passk_evaluation")


@dataclass(frozen=True)
class RunRecord:
    success: bool
    metadata: dict[str, dict[str, Any]]  # asset -> metadata values
    checks: dict[str, bool]
    event_text: str  # every event of the run, rendered: what the UI and the event log hold
    metadata_json: str  # every asset's metadata values, serialized as the event log stores them


class SpoolWatcher:
    """Reads the request spools while the run writes them (they are deleted once ingested into DuckDB)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.contents: dict[str, str] = {}  # spool file -> the longest content seen
        self._lock = threading.Lock()

    def watching(self, responder: Responder) -> Responder:
        def answer(body: dict[str, Any], call_index: int) -> WireReply:
            self.look()
            return responder(body, call_index)

        return answer

    def look(self) -> None:
        for path in self.directory.glob("*") if self.directory.is_dir() else []:
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue  # ingested and deleted meanwhile
            with self._lock:
                if len(text) > len(self.contents.get(path.name, "")):
                    self.contents[path.name] = text


@dataclass(frozen=True)
class WireRun:
    home: Path
    domain: str
    first: RunRecord
    second: RunRecord | None  # the re-run, when asked for
    openai_requests: list[RecordedRequest]  # what the servers received during the first run
    anthropic_requests: list[RecordedRequest]
    openai_roles: Counter[str]
    anthropic_roles: Counter[str]
    requests_during_second_run: int
    spools: dict[str, str]  # spool file -> content, as seen while the runs went on


def model_ref(provider: str, model: str, base_url: str, key_env: str) -> dict[str, str]:
    return {"provider": provider, "model": model, "base_url": base_url, "api_key_env": key_env}


def wire_config(openai_url: str, anthropic_url: str, domain: dict[str, str], contexts: int,
                evaluation: dict[str, Any]) -> PipelineConfig:
    def openai(model: str) -> dict[str, str]:
        return model_ref("openai", model, openai_url, OPENAI_KEY_ENV)

    return PipelineConfig.model_validate({
        "domains": [domain],
        "sampling": {"contexts_per_partition": contexts},
        "evaluation": evaluation,
        "llm": {
            "roles": {"generator": openai("gpt-4o"), "summarizer": openai("gpt-4o-mini"),
                      "recombiner": openai("gpt-4o"), "human": openai("gpt-4o-mini"),
                      "critic": openai("gpt-4o-mini"), "agent": openai("gpt-4o")},
            "judges": [openai("gpt-4o"),
                       *(model_ref("anthropic", model, anthropic_url, ANTHROPIC_KEY_ENV) for model in ANTHROPIC_JUDGES)],
            "backend_override": "configured",
        },
    })


def run_graph(config: PipelineConfig, run_config: dict[str, Any] | None = None) -> RunRecord:
    domain = config.domains[0].name
    job = build_definitions(config=config).resolve_job_def(BATCH_JOB_NAME)  # pass^k as the config says
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(partition_key=Partition(domain, BATCH).key(), instance=instance,
                                        raise_on_error=False, run_config=run_config)
        logs = instance.all_logs(result.run_id)
    materializations = {e.event_specific_data.materialization.asset_key.to_user_string():
                        e.event_specific_data.materialization.metadata
                        for e in result.get_asset_materialization_events()}
    metadata = {asset: {k: v.value for k, v in values.items()} for asset, values in materializations.items()}
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    # The metadata as Dagster stores it (its serdes JSON): every value, a column schema's names and types included.
    return RunRecord(result.success, metadata, checks, "\n".join(repr(entry) for entry in logs),
                     dg.serialize_value(materializations))


def run_on_wire_servers(home: Path, domain: dict[str, str], contexts: int, evaluation: dict[str, Any],
                        rerun: bool, phase2_rates: Phase2SimulationRates | None = None) -> WireRun:
    """Materialize the graph (twice with `rerun`) against fresh wire servers that hold the planted keys."""
    # The servers' roles answer from the same environment the pipeline runs on (as `environment_for` loads it).
    domain_config = DomainConfig.model_validate(domain)
    environments = {domain_config.name: load_environment(domain_config.reference, domain_config.seed,
                                                         domain_config.scale)}
    openai_responder = simulated_responder("openai", environments=environments, phase2_rates=phase2_rates)
    anthropic_responder = simulated_responder("anthropic", environments=environments, phase2_rates=phase2_rates)
    spools = SpoolWatcher(spool_dir(home))
    with pytest.MonkeyPatch.context() as env, \
            OpenAIWireServer(spools.watching(openai_responder),
                             expected_api_key=PLANTED_OPENAI_KEY) as openai_server, \
            AnthropicWireServer(spools.watching(anthropic_responder),
                                expected_api_key=PLANTED_ANTHROPIC_KEY) as anthropic_server:
        env.setenv("APIGEN_HOME", str(home))
        env.delenv("APIGEN_LLM", raising=False)
        env.delenv("APIGEN_LLM_BASE_URL", raising=False)
        env.setenv(OPENAI_KEY_ENV, PLANTED_OPENAI_KEY)
        env.setenv(ANTHROPIC_KEY_ENV, PLANTED_ANTHROPIC_KEY)
        config = wire_config(openai_server.base_url, anthropic_server.base_url, domain, contexts, evaluation)
        first = run_graph(config)
        openai_requests, anthropic_requests = openai_server.requests, anthropic_server.requests
        roles = (Counter(openai_responder.roles_seen), Counter(anthropic_responder.roles_seen))
        second = run_graph(config) if rerun else None
        sent_again = openai_server.request_count + anthropic_server.request_count \
            - len(openai_requests) - len(anthropic_requests)
    return WireRun(home, domain["name"], first, second, openai_requests, anthropic_requests, *roles, sent_again,
                   dict(spools.contents))


@pytest.fixture(scope="module")
def wire_run(tmp_path_factory: pytest.TempPathFactory) -> WireRun:
    return run_on_wire_servers(tmp_path_factory.mktemp("wire_pipeline") / "apigen_home", MOCK_DOMAIN, CONTEXTS,
                               {"enabled": True, "k": 2, "max_tasks": 2}, rerun=True)


def first_asks(requests: list[RecordedRequest], provider: WireProvider) -> list[LLMRequest]:
    """The received requests as neutral requests, without the gateway's re-asks after invalid answers."""
    decoded = [request_from_body(provider, r.body).request for r in requests]
    return [request for request in decoded if not is_repair_request(request)]


def by_role(responder_roles: Counter[str]) -> dict[str, int]:
    return {role: count for role, count in responder_roles.items() if count}


def warehouse(run: WireRun) -> Warehouse:
    return Warehouse(warehouse_path(run.home))


def test_the_graph_runs_through_both_sdks_and_keeps_blueprints_and_trajectories(wire_run: WireRun):
    assert wire_run.first.success
    assert wire_run.first.checks["accepted_blueprints_reexecute"] is True
    assert wire_run.first.checks["kept_trajectories_replay"] is True
    store = warehouse(wire_run)
    blueprints = store.read_partition("blueprints", DOMAIN, BATCH)
    trajectories = store.read_partition("trajectories", DOMAIN, BATCH)
    assert len(blueprints) >= 1 and len(trajectories) >= 1
    assert set(trajectories["blueprint_id"]) <= set(blueprints["blueprint_id"])
    export = exports_dir(wire_run.home) / "openai" / DOMAIN / f"{BATCH}.jsonl"
    assert len(export.read_text().splitlines()) == len(trajectories)
    # Real providers answered: the dataset is not labelled as a simulated rehearsal.
    card = json.loads((exports_dir(wire_run.home) / "cards" / DOMAIN / f"{BATCH}.json").read_text())
    assert card["not_for_training"] is False


def test_every_role_reached_its_configured_server_and_only_there(wire_run: WireRun):
    openai_roles, anthropic_roles = by_role(wire_run.openai_roles), by_role(wire_run.anthropic_roles)
    assert {"generator", "judge", "human", "critic", "agent"} <= set(openai_roles)
    assert openai_roles["generator"] >= CONTEXTS
    assert set(anthropic_roles) == {"judge"}
    # Every committee round asks all three judges (re-asks after an invalid answer aside): two on
    # Anthropic for each one on OpenAI.
    openai_judges = [r for r in first_asks(wire_run.openai_requests, "openai") if r.role == "judge"]
    anthropic_models = Counter(r.body["model"] for r in wire_run.anthropic_requests
                               if not is_repair_request(request_from_body("anthropic", r.body).request))
    assert anthropic_models == {model: len(openai_judges) for model in ANTHROPIC_JUDGES}
    # Best-of-N: each user turn is four human samples, each scored by the critic.
    assert openai_roles["human"] == openai_roles["critic"] > 0 and openai_roles["human"] % 4 == 0
    assert all(r.status == 200 and r.answered and r.auth_matched for r in
               wire_run.openai_requests + wire_run.anthropic_requests)


def test_bodies_carry_each_providers_native_structured_output_and_tools(wire_run: WireRun):
    openai_schemas = Counter(r.body.get("response_format", {}).get("json_schema", {}).get("name")
                             for r in wire_run.openai_requests)
    assert openai_schemas["generator"] == wire_run.openai_roles["generator"]
    assert openai_schemas["judge"] == wire_run.openai_roles["judge"]
    assert openai_schemas["critic"] == wire_run.openai_roles["critic"]
    agent_bodies = [r.body for r in wire_run.openai_requests if r.body.get("tools")]
    assert len(agent_bodies) == wire_run.openai_roles["agent"]
    assert all("response_format" not in body for body in agent_bodies)
    assert any(m["role"] == "tool" for body in agent_bodies for m in body["messages"])
    # Anthropic has no JSON-schema mode: the judge schema is a forced tool.
    assert {json.dumps(r.body["tool_choice"]) for r in wire_run.anthropic_requests} == \
        {json.dumps({"type": "tool", "name": "judge"})}


def test_the_request_log_names_the_real_providers(wire_run: WireRun):
    log = warehouse(wire_run).query("llm/all_requests", [])
    assert set(log["provider"]) == {"openai", "anthropic"}
    assert not log["simulated"].any()
    assert set(log["status"]) == {"answered"}
    judges = log[log["role"] == "judge"]
    assert Counter(judges["provider"]) == {"openai": len(judges) // 3, "anthropic": 2 * len(judges) // 3}
    assert set(log[log["role"] != "judge"]["provider"]) == {"openai"}
    sent = len(wire_run.openai_requests) + len(wire_run.anthropic_requests)
    assert len(log) <= sent <= int(log["attempts"].sum() + log["repair_turns"].sum())
    first_metadata = wire_run.first.metadata
    assert sum(first_metadata[asset]["llm_requests_answered"] for asset in LLM_ASSETS) == len(log)


def cache_reads_by_rule(requests: list[RecordedRequest]) -> Counter[str]:
    """The prompt tokens the OpenAI prefix rule (llm/prompt_cache) serves from the cache, summed per role, for
    the requests in the order the server received them: each reads the longest prefix sent before it."""
    blocks_of = OpenAIWireServer().prompt_blocks  # the server's prompt blocks (no server is started)
    caches: dict[str, PrefixCache] = {}
    reads: Counter[str] = Counter()
    for recorded in sorted(requests, key=lambda r: r.call_index):
        cache = caches.setdefault(recorded.body["model"], PrefixCache(OPENAI_RULE))
        request = request_from_body("openai", recorded.body).request
        # Capped by the prompt's count as the simulated responder reports it (a whole re-sent body may hit).
        reads[request.role] += cache.use(blocks_of(recorded.body)).within(estimate_request_tokens(request)).read_tokens
    return reads


def test_the_servers_prompt_cache_hits_are_stored_per_request_and_priced(wire_run: WireRun):
    log = warehouse(wire_run).query("llm/all_requests", [])
    assert (log["cached_input_tokens"] <= log["input_tokens"]).all()  # a re-sent body (best-of-N) may hit whole
    # The stored cached tokens are the ones the rule gives for the requests the server received: the lean
    # generator prompt's shared opening (format and system text) stays below OpenAI's 1,024-token minimum,
    # so its hits come from re-sent prefixes (a repair re-sends the whole first ask).
    openai = log[log["provider"] == "openai"]
    stored = {role: int(rows["cached_input_tokens"].sum()) for role, rows in openai.groupby("role")}
    expected = cache_reads_by_rule(wire_run.openai_requests)
    assert stored == {role: expected[role] for role in stored}, (stored, expected)
    # Something to compare, so the check checks reading, not only zeros. Which role hits depends on the
    # draws (seeded by the prompt text): the mock domain's agent prefix is below OpenAI's minimum, so the
    # hits come from re-sent prefixes, such as a repair re-sending the generator's whole first ask.
    assert sum(stored.values()) > 0, stored
    # Priced: a cached token at the model's cached-input price, the rest at the input price.
    expected_usd = [cost_of(Usage(input_tokens=row.input_tokens, cached_input_tokens=row.cached_input_tokens,
                                  output_tokens=row.output_tokens), row.model, DEFAULT_PRICES).usd
                    for row in openai.itertuples()]
    assert list(openai["cost_usd"]) == pytest.approx(expected_usd)
    # The mock domain's judge prompts stay below Anthropic's minimum before the breakpoint (see
    # llm/test_prompt_cache_wire.py for Anthropic's reads and writes); OpenAI never bills a write.
    assert (openai["cache_write_input_tokens"] == 0).all()
    assert not log["via_batch"].any()


def test_a_second_run_sends_nothing_and_answers_from_the_request_log(wire_run: WireRun):
    assert wire_run.second is not None and wire_run.second.success
    assert wire_run.requests_during_second_run == 0
    for asset in LLM_ASSETS:
        assert wire_run.second.metadata[asset]["llm_requests_answered"] == 0
        assert wire_run.second.metadata[asset]["llm_cache_hits"] == \
            wire_run.first.metadata[asset]["llm_requests_answered"]


def stored_text(run: WireRun) -> dict[str, str]:
    """Every place a key could leak to: each file under the project home, each warehouse table as text,
    and the events (asset metadata included) of both runs."""
    places = {str(path): path.read_bytes().decode("utf-8", "replace")
              for path in sorted(run.home.rglob("*")) if path.is_file()}
    places.update({f"spool {name}": text for name, text in run.spools.items()})
    with warehouse(run).connect(read_only=True) as con:
        tables = [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            rows = con.execute(f'SELECT * FROM "{table}"').df()
            places[f"table {table}"] = rows.to_json(orient="records", date_format="iso")
    places["first run events"] = run.first.event_text + run.first.metadata_json
    if run.second is not None:
        places["second run events"] = run.second.event_text + run.second.metadata_json
    return places


def test_the_planted_keys_are_stored_nowhere(wire_run: WireRun):
    assert all(r.auth_matched for r in wire_run.openai_requests + wire_run.anthropic_requests)  # the keys were used
    places = stored_text(wire_run)
    # The search has something to search: the log, spools, exports and run events are all there.
    assert {"table llm_requests", "table trajectories", "first run events"} <= set(places)
    assert any(place.startswith("spool ") and '"request_key"' in text for place, text in places.items())
    assert any(place.endswith(".jsonl") for place in places)
    assert "cancel" in places["table llm_requests"]
    assert '"TableSchema"' in places["first run events"]  # the column schemas' metadata is searched too
    assert leaked_places(places) == []


def leaked_places(places: dict[str, str]) -> list[str]:
    return [place for place, text in places.items()
            if PLANTED_OPENAI_KEY in text or PLANTED_ANTHROPIC_KEY in text or "PLANTED-SECRET" in text]


def test_a_built_in_domain_runs_through_both_sdks(tmp_path: Path):
    # Persona traits (impatient, forgetful, indecisive) fail a conversation at `trait_strength` whatever best-of-N
    # picks; the mock-domain run rehearses them. Here they stay off, or with three contexts the personas drawn
    # (not the retail plumbing) would decide whether any trajectory is kept.
    run = run_on_wire_servers(tmp_path / "apigen_home", {"name": "retail"}, 3, {"enabled": False}, rerun=False,
                              phase2_rates=Phase2SimulationRates(trait_strength=0.0))
    assert run.first.success
    assert run.first.checks["accepted_blueprints_reexecute"] is True
    assert run.first.checks["kept_trajectories_replay"] is True
    store = warehouse(run)
    assert len(store.read_partition("blueprints", "retail", BATCH)) >= 1
    assert len(store.read_partition("trajectories", "retail", BATCH)) >= 1
    assert {"generator", "judge", "human", "critic", "agent"} <= set(by_role(run.openai_roles))
    assert set(by_role(run.anthropic_roles)) == {"judge"}
    # The agent saw the retail tools and called them through the SDK's native tool calls.
    called = {m["tool_calls"][0]["function"]["name"] for r in run.openai_requests for m in r.body["messages"]
              if m.get("tool_calls")}
    offered = {tool["function"]["name"] for r in run.openai_requests for tool in r.body.get("tools", [])}
    assert called <= offered and called & RETAIL_WRITE_TOOLS
    log = store.query("llm/all_requests", [])
    assert set(log["provider"]) == {"openai", "anthropic"} and set(log["status"]) == {"answered"}
    assert leaked_places(stored_text(run)) == []
