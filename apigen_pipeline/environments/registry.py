"""Finding environments by name: built-ins, the `apigen_pipeline.environments` entry-point group, or
a `module:attribute` reference from config. Every plugin is checked against the contract on load."""

from __future__ import annotations

import importlib
import inspect
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

import jsonschema

from apigen_pipeline.environments.base import Environment, EnvironmentContractError, EnvironmentPlugin, Tool

ENTRY_POINT_GROUP = "apigen_pipeline.environments"
BUILTIN_REFERENCES = {
    "retail": "apigen_pipeline.environments.retail:plugin",
    "airline": "apigen_pipeline.environments.airline:plugin",
}


class EnvironmentNotFoundError(LookupError):
    pass


def resolve_reference(reference: str) -> tuple[EnvironmentPlugin, str]:
    """Load `module:attr` (an EnvironmentPlugin, or a zero-argument callable returning one)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise EnvironmentContractError(f"environment reference '{reference}' must look like 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise EnvironmentNotFoundError(f"cannot import module '{module_name}' for environment '{reference}': {error}") from error
    try:
        target: Any = getattr(module, attribute)
    except AttributeError as error:
        raise EnvironmentNotFoundError(f"module '{module_name}' has no attribute '{attribute}'") from error
    return _as_plugin(target, reference), reference


def find_plugin(name_or_reference: str) -> tuple[EnvironmentPlugin, str]:
    """By built-in name, entry-point name, or `module:attr`. Returns the plugin and where it came from."""
    if ":" in name_or_reference:
        plugin, source = resolve_reference(name_or_reference)
    elif name_or_reference in BUILTIN_REFERENCES:
        plugin, source = resolve_reference(BUILTIN_REFERENCES[name_or_reference])
    else:
        matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name_or_reference]
        if not matches:
            known = sorted(set(BUILTIN_REFERENCES) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
            raise EnvironmentNotFoundError(
                f"no environment named '{name_or_reference}' (known: {', '.join(known)}; or give 'module:attribute')")
        entry = matches[0]
        try:
            target = entry.load()
        except Exception as error:
            raise EnvironmentContractError(f"entry point '{entry.name}' = '{entry.value}' failed to load: {error}") from error
        plugin, source = _as_plugin(target, entry.value), f"entry-point:{entry.value}"
    validate_plugin(plugin)
    return plugin, source


def _as_plugin(target: Any, reference: str) -> EnvironmentPlugin:
    if isinstance(target, EnvironmentPlugin):
        return target
    if callable(target):
        try:
            produced = target()
        except Exception as error:
            raise EnvironmentContractError(f"environment factory '{reference}' raised {type(error).__name__}: {error}") from error
        if isinstance(produced, EnvironmentPlugin):
            return produced
        raise EnvironmentContractError(
            f"environment factory '{reference}' returned {type(produced).__name__}, not an EnvironmentPlugin")
    raise EnvironmentContractError(f"'{reference}' is {type(target).__name__}, not an EnvironmentPlugin")


def validate_plugin(plugin: EnvironmentPlugin) -> None:
    """Check the contract; raise EnvironmentContractError listing every problem found."""
    problems: list[str] = []
    if not plugin.name or not plugin.name.replace("_", "").isalnum() or not plugin.name.islower():
        problems.append(f"name '{plugin.name}' must be lower-case letters, digits and underscores")
    if not plugin.tools:
        problems.append("it has no tools")
    duplicates = [n for n, c in Counter(_tool_name(t) for t in plugin.tools).items() if c > 1]
    if duplicates:
        problems.append(f"duplicate tool names: {', '.join(sorted(map(str, duplicates)))}")
    for tool in plugin.tools:
        problems.extend(_tool_problems(tool))
    names = {_tool_name(t) for t in plugin.tools}
    kinds = [t.spec.kind for t in plugin.tools if isinstance(t, Tool)]
    if plugin.tools and None not in kinds and "write" not in kinds:  # undeclared kinds are checked once inferred
        problems.append("it has no write tool (tasks are built around writes)")
    for section in plugin.policy_sections:
        unknown = [t for t in section.tools if t not in names]
        if unknown:
            problems.append(f"policy section '{section.section_id}' names unknown tools: {', '.join(unknown)}")
    if not plugin.policy_sections:
        problems.append("it has no policy text (policy_sections is empty)")
    for a, b in plugin.forbidden_pairs:
        for tool_name in (a, b):
            if tool_name not in names:
                problems.append(f"forbidden pair ({a}, {b}) names unknown tool '{tool_name}'")
    for auth in plugin.auth_tools:
        if auth not in names:
            problems.append(f"auth tool '{auth}' is not one of its tools")
    for terminating in plugin.terminating_tools:
        if terminating not in names:
            problems.append(f"terminating tool '{terminating}' is not one of its tools")
    problems.extend(_data_problems(plugin))
    if not callable(plugin.sample_domain_data):
        problems.append("sample_domain_data is not callable")
    if plugin.propose_actions is not None and not callable(plugin.propose_actions):
        problems.append("propose_actions is not callable")
    for check in plugin.policy_checks:
        if not callable(getattr(check, "check", None)):
            problems.append(f"policy check '{getattr(check, 'rule', check)}' has no callable check")
    if problems:
        raise EnvironmentContractError(f"environment '{plugin.name}' does not meet the contract: " + "; ".join(problems))


def _data_problems(plugin: EnvironmentPlugin) -> list[str]:
    """A generator (`generate_data`) or a fixed data set (`load_data`), exactly one; a known tool data style."""
    sources = {"generate_data": plugin.generate_data, "load_data": plugin.load_data}
    given = [label for label, fn in sources.items() if fn is not None]
    problems = [f"{label} is not callable" for label in given if not callable(sources[label])]
    if len(given) != 1:
        problems.append("it needs exactly one data source: generate_data (seed, scale) or load_data (a fixed data "
                        f"set), got {' and '.join(given) or 'neither'}")
    if plugin.tool_data not in ("database", "dict"):
        problems.append(f"tool_data must be 'database' or 'dict', got {plugin.tool_data!r}")
    return problems


def _tool_name(tool: Any) -> str:
    spec = getattr(tool, "spec", None)
    return getattr(spec, "name", repr(tool))


def _tool_problems(tool: Any) -> list[str]:
    if not isinstance(tool, Tool):
        return [f"{tool!r} is not a Tool(spec, function)"]
    name, spec = tool.spec.name, tool.spec
    problems: list[str] = []
    if not callable(tool.function):
        return [f"tool '{name}' has no function"]
    if not spec.description.strip():
        problems.append(f"tool '{name}' has no description")
    schema = spec.parameters
    if not isinstance(schema, dict) or schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return [*problems, f"tool '{name}' parameters must be a JSON schema with type 'object' and 'properties'"]
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        problems.append(f"tool '{name}' has an invalid JSON schema: {error.message}")
    missing = [r for r in schema.get("required", []) if r not in schema["properties"]]
    if missing:
        problems.append(f"tool '{name}' requires undeclared parameters: {', '.join(missing)}")
    problems.extend(_signature_problems(name, tool.function, schema))
    return problems


def _signature_problems(name: str, function: Callable[..., Any], schema: dict[str, Any]) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    parameters = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return []
    accepted = {p.name for p in parameters[1:]}  # the first parameter is the database
    unaccepted = [p for p in schema["properties"] if p not in accepted]
    if unaccepted:
        return [f"tool '{name}' function does not accept schema parameters: {', '.join(unaccepted)}"]
    return []


@lru_cache(maxsize=32)
def load_environment(name_or_reference: str, seed: int | None = None, scale: float = 1.0) -> Environment:
    """The shared Environment for a name (cached per process: the seeded database is built once), after the
    contract check that needs its data: tool kinds inferred where undeclared, declared reads probed."""
    plugin, _ = find_plugin(name_or_reference)
    environment = Environment(plugin, seed=seed, scale=scale)
    problems = environment.tool_kind_problems()
    if problems:
        raise EnvironmentContractError(f"environment '{plugin.name}' does not meet the contract: " + "; ".join(problems))
    return environment
