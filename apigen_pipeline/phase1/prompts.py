"""Rendering Phase 1's versioned prompt files into `LLMRequest`s.

A prompt file (`prompt_templates/<role>.<version>.md`) has `=== system ===`, `=== user ===` and optional
further sections; `$name` slots are filled with `string.Template` (JSON braces need no escaping). The
system message holds only what never changes within a domain (role instructions) and is marked
cacheable; everything item-specific follows in the user message, with its machine-readable data inside
tags such as `<context>{...}</context>` for real and simulated models alike.

Lean prompts (v2 and v3): a generator sees the context's sampled tools (as one-line signatures), the policy
sections those tools touch, the user's records and its examples, not the whole domain; a judge sees the
tools the blueprint calls and their policy sections. v1 put the whole policy and every tool schema into the
system message (about 2.5x the tokens per call). v3, the default, carries the same content more compactly
(`packs_records`): records as tables (`compact_records.pack`; the simulated generator reads them back with
`expand`), policy excerpts as `## title` and text, examples as the blueprints they show, and the read tools
not listed a second time; its generator prompts are 12-17% shorter at the median than v2's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any

from apigen_pipeline.environments.base import Environment, ToolSpec
from apigen_pipeline.llm.tokens import estimate_request_tokens, estimate_tokens
from apigen_pipeline.llm.types import ChatMessage, LLMRequest, SamplingParams
from apigen_pipeline.phase1.compact_records import pack
from apigen_pipeline.phase1.contexts import PolicyExcerpt, TaskContext, policy_excerpts
from apigen_pipeline.phase1.models import CRITERIA, Blueprint

TEMPLATE_DIR = Path(__file__).resolve().parent / "prompt_templates"
_SECTION = re.compile(r"^=== (\w+) ===\s*$", re.MULTILINE)

_STRING = {"type": "string"}
_BINARY = {"type": "integer", "enum": [0, 1]}
BLUEPRINT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "instruction": _STRING,
        "actions": {"type": "array", "items": {
            "type": "object", "properties": {"name": _STRING, "arguments": {"type": "object"}},
            "required": ["name", "arguments"]}},
        "outputs": {"type": "array", "items": _STRING},
    },
    "required": ["instruction", "actions", "outputs"],
}
GENERATOR_SCHEMA: dict[str, Any] = {
    "type": "object", "properties": {"reasoning": _STRING, "blueprint": BLUEPRINT_SCHEMA},
    "required": ["reasoning", "blueprint"]}
JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "scores": {"type": "object", "properties": {c: _BINARY for c in CRITERIA}, "required": list(CRITERIA)},
        "reflection": _STRING,
        "correction": _STRING,
    },
    "required": ["scores", "reflection", "correction"]}
SUMMARIZER_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"plan": _STRING}, "required": ["plan"]}
RECOMBINER_SCHEMA: dict[str, Any] = {
    "type": "object", "properties": {"instruction": _STRING}, "required": ["instruction"]}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


@lru_cache(maxsize=64)
def load_template(role: str, version: str) -> dict[str, Template]:
    path = TEMPLATE_DIR / f"{role}.{version}.md"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt file {path.name} for role '{role}' version '{version}'")
    text = path.read_text()
    parts = _SECTION.split(text)
    sections = {name: Template(body.strip("\n")) for name, body in zip(parts[1::2], parts[2::2], strict=True)}
    if "system" not in sections or "user" not in sections:
        raise ValueError(f"prompt file {path.name} needs '=== system ===' and '=== user ===' sections")
    return sections


_SYSTEM_CACHE: dict[tuple[str, str, int], str] = {}


def system_text(role: str, version: str, environment: Environment, domain: str) -> str:
    """The static prefix for (role, version, environment): rendered once per process."""
    key = (role, version, id(environment))
    cached = _SYSTEM_CACHE.get(key)
    if cached is None:
        tools = json.dumps([spec.openai_schema() for spec in environment.tool_specs], indent=1, sort_keys=True)
        cached = load_template(role, version)["system"].substitute(
            domain=domain, policy=environment.policy_text, tools=tools)
        _SYSTEM_CACHE[key] = cached
    return cached


def _request(role: str, version: str, environment: Environment, domain: str, user_text: str,
             schema: dict[str, Any], tags: Mapping[str, str], temperature: float | None,
             max_tokens: int) -> LLMRequest:
    return LLMRequest(
        role=role,  # type: ignore[arg-type]
        messages=[ChatMessage(role="system", content=system_text(role, version, environment, domain), cacheable=True),
                  ChatMessage(role="user", content=user_text)],
        response_schema=schema,
        response_schema_name=role,
        prompt_version=f"{role}.{version}",
        sampling=SamplingParams(temperature=temperature, max_tokens=max_tokens),
        tags=dict(tags),
    )


def _type_name(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "|".join(json.dumps(value) for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"{_type_name(schema.get('items') or {})}[]"
    return "|".join(kind) if isinstance(kind, list) else str(kind)


def tool_signature(spec: ToolSpec) -> str:
    """One line per tool: `name(arg: type, optional?: type) [kind]: description` (a third of its JSON schema)."""
    properties: Mapping[str, Any] = spec.parameters.get("properties") or {}
    required = set(spec.parameters.get("required") or [])
    arguments = ", ".join(f"{name}{'' if name in required else '?'}: {_type_name(schema)}"
                          for name, schema in properties.items())
    return f"{spec.name}({arguments}) [{spec.kind}]: {spec.description}"


def packs_records(version: str) -> bool:
    """Whether prompts of this version carry the compact rendering (v3 on): records as tables
    (`compact_records.pack`), policy excerpts as markdown, examples as blueprints. v1 and v2 render as they
    always did, so the request keys of their stored runs stay the same."""
    return version not in ("v1", "v2")


_EXAMPLE_FIELDS = {"instruction", "actions", "outputs"}  # an example as the blueprint it shows (v3 on)


def packed_records(records: Any) -> Any:
    """`compact_records.pack(records)`, remembered by content for the last few hundred record sets: a context's
    records recur in its generator rounds and in every judge round. Callers must not change the result."""
    return _packed_json(dumps(records))


@lru_cache(maxsize=512)  # thread-safe, unlike a hand-kept ordered dict
def _packed_json(records_json: str) -> Any:
    return pack(json.loads(records_json))


def policy_view(excerpts: Sequence[PolicyExcerpt], version: str) -> list[Any]:
    """Policy excerpts as a prompt shows them: `## title` and the text from v3 on (as in the whole policy)."""
    if packs_records(version):
        return [f"## {e.title}\n{e.text}" for e in excerpts]
    return [e.model_dump() for e in excerpts]


def generator_context(context: TaskContext, version: str = "v2") -> dict[str, Any]:
    """What the generator sees of a context: its sampled tools, their policy, the user's data, persona, examples.
    From v3 on the records are tables, the read tools are not listed twice (their signatures say `[read]`) and
    an example is the blueprint it shows (instruction, actions, outputs), as the generator writes one."""
    compact = packs_records(version)
    domain_data = context.domain_data.model_dump(mode="json")
    if compact:
        domain_data["records"] = packed_records(domain_data["records"])
    view = {
        "context_id": context.context_id,
        "domain": context.domain,
        "write_tools": context.write_tools,
        "read_tools": context.read_tools,
        "tools": [tool_signature(spec) for spec in context.tools],
        "policy_excerpts": policy_view(context.policy_excerpts, version),
        "domain_data": domain_data,
        "persona": {"persona_id": context.persona.persona_id, "description": context.persona.description},
        "examples": [e.model_dump(mode="json", include=_EXAMPLE_FIELDS if compact else None)
                     for e in context.examples],
    }
    if compact:
        del view["read_tools"]
    return view


def generator_request(context: TaskContext, environment: Environment, version: str, round_index: int,
                      previous: Mapping[str, Any] | None, feedback: str | None, temperature: float | None,
                      max_tokens: int, context_json: str | None = None) -> LLMRequest:
    """`previous` is the last blueprint as the generator wrote it (even when it failed the format check);
    `context_json` is `dumps(generator_context(context, version))` when the caller already rendered it."""
    sections = load_template("generator", version)
    text = sections["user"].substitute(context=context_json or dumps(generator_context(context, version)))
    if feedback is not None:
        previous_text = dumps(previous) if previous is not None else "(no valid blueprint)"
        text += "\n" + sections["revision"].substitute(previous_blueprint=previous_text, feedback=feedback)
    return _request("generator", version, environment, context.domain, text, GENERATOR_SCHEMA,
                    {"context_id": context.context_id, "round": str(round_index)}, temperature, max_tokens)


def shrunk_contexts(context: TaskContext) -> Iterator[TaskContext]:
    """Ever smaller versions of a context for a model whose window it does not fit: fewer examples first,
    then fewer records (the largest first; the user's own record stays)."""
    examples = list(context.examples)
    while examples:
        examples.pop()
        yield context.model_copy(update={"examples": list(examples)})
    sample = context.domain_data
    records = {table: dict(rows) for table, rows in sample.records.items()}
    droppable = sorted(((estimate_tokens(dumps(record)), table, record_id) for table, rows in records.items()
                        for record_id, record in rows.items() if record_id != sample.user_id), reverse=True)
    for _, table, record_id in droppable:
        del records[table][record_id]
        smaller = sample.model_copy(update={"records": {table: dict(rows) for table, rows in records.items()}})
        yield context.model_copy(update={"examples": [], "domain_data": smaller})


def fitting_generator_request(context: TaskContext, environment: Environment, version: str, round_index: int,
                              previous: Mapping[str, Any] | None, feedback: str | None, temperature: float | None,
                              max_tokens: int, room: int | None,
                              context_json: str | None = None) -> tuple[LLMRequest, str]:
    """The generator request whose prompt fits `room` tokens (None: no limit known), shrinking the context
    (`shrunk_contexts`) as far as needed; with the context JSON it carries, for the next round to start from.
    If even the smallest does not fit, that one is returned (the gateway refuses it, naming the numbers).
    A revision (`feedback`) fixes its own blueprint: the examples served the first draft and are left out."""
    if feedback is not None:
        context = context.model_copy(update={"examples": []})
    context_json = context_json or dumps(generator_context(context, version))
    request = generator_request(context, environment, version, round_index, previous, feedback, temperature,
                                max_tokens, context_json)
    if room is None or estimate_request_tokens(request) <= room:
        return request, context_json
    for smaller in shrunk_contexts(context):
        context_json = dumps(generator_context(smaller, version))
        request = generator_request(smaller, environment, version, round_index, previous, feedback, temperature,
                                    max_tokens, context_json)
        if estimate_request_tokens(request) <= room:
            break
    return request, context_json


def judge_context(domain: str, user_id: str, identity: Mapping[str, Any], persona: str,
                  records: Mapping[str, Any]) -> dict[str, Any]:
    return {"domain": domain, "user_id": user_id, "identity": dict(identity), "persona": persona, "records": dict(records)}


def judge_requests(subject_id: str, round_index: int, judges: int, blueprint: Blueprint,
                   context: Mapping[str, Any], diff_text: str, environment: Environment, domain: str,
                   version: str, temperature: float | None, max_tokens: int) -> list[LLMRequest]:
    """One request per judge: the same prompt, told apart (and routed) by `tags["judge_index"]`. The context
    gains the tools the blueprint calls and the policy sections they touch."""
    called = list(dict.fromkeys(action.name for action in blueprint.actions))
    view = {**context, "tools": [tool_signature(spec) for name in called if (spec := environment.tool_spec(name))],
            "policy_excerpts": policy_view(policy_excerpts(environment, called), version)}
    if packs_records(version) and isinstance(view.get("records"), Mapping):
        view["records"] = packed_records(view["records"])
    text = load_template("judge", version)["user"].substitute(
        context=dumps(view), blueprint=dumps(blueprint.model_dump()), diff=diff_text)
    return [_request("judge", version, environment, domain, text, JUDGE_SCHEMA,
                     {"subject_id": subject_id, "round": str(round_index), "judge_index": str(index)},
                     temperature, max_tokens)
            for index in range(judges)]


def summarizer_request(subject_id: str, round_index: int, blueprint: Mapping[str, Any] | None,
                       errors: Sequence[Mapping[str, Any]], environment: Environment, domain: str,
                       version: str, max_tokens: int) -> LLMRequest:
    text = load_template("summarizer", version)["user"].substitute(
        blueprint=dumps(blueprint) if blueprint is not None else "(no valid blueprint)",
        errors=dumps(list(errors)))
    tags = {"subject_id": subject_id, "round": str(round_index)}
    return _request("summarizer", version, environment, domain, text, SUMMARIZER_SCHEMA, tags, 0.0, max_tokens)


def recombiner_request(group_id: str, context: Mapping[str, Any], sources: Sequence[Blueprint],
                       combined: Blueprint, environment: Environment, domain: str, version: str,
                       temperature: float | None, max_tokens: int) -> LLMRequest:
    text = load_template("recombiner", version)["user"].substitute(
        context=dumps(context), sources=dumps([s.model_dump() for s in sources]),
        combined=dumps({"actions": [a.model_dump() for a in combined.actions], "outputs": combined.outputs}))
    return _request("recombiner", version, environment, domain, text, RECOMBINER_SCHEMA, {"group_id": group_id},
                    temperature, max_tokens)


def tagged_text(text: str | None, tag: str) -> str | None:
    """The text between `<tag>` and the next `</tag>`, stripped, or None (plain `find`: prompts are long)."""
    if not text:
        return None
    opening, closing = f"<{tag}>", f"</{tag}>"
    start = text.find(opening)
    if start < 0:
        return None
    end = text.find(closing, start + len(opening))
    return text[start + len(opening):end].strip() if end >= 0 else None


def tagged_json(text: str | None, tag: str) -> Any:
    """The JSON between `<tag>` and `</tag>` in `text`, or None (used by the simulated roles and tests)."""
    body = tagged_text(text, tag)
    if body is None:
        return None
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return None
