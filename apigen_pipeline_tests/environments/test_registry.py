import dataclasses
import sys
import textwrap

import pytest

from apigen_pipeline.environments.base import Tool, ToolSpec
from apigen_pipeline.environments.registry import (
    EnvironmentContractError,
    EnvironmentNotFoundError,
    find_plugin,
    validate_plugin,
)
from apigen_pipeline_tests import mock_domain

MOCK_REF = "apigen_pipeline_tests.mock_domain:plugin"


def test_config_reference_loads_and_validates():
    plugin, source = find_plugin(MOCK_REF)
    assert plugin.name == "mockshop"
    assert source == MOCK_REF


def test_factory_reference_is_called():
    plugin, _ = find_plugin("apigen_pipeline_tests.mock_domain:make_plugin")
    assert plugin is mock_domain.plugin


def test_entry_point_group_loads_a_plugin(tmp_path, monkeypatch):
    """A distribution that declares the entry point is found by name alone."""
    dist = tmp_path / "mockshop_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mockshop-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[apigen_pipeline.environments]\nmockshop_ep = apigen_pipeline_tests.mock_domain:plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin, source = find_plugin("mockshop_ep")
    assert plugin.name == "mockshop"
    assert source == "entry-point:apigen_pipeline_tests.mock_domain:plugin"


def test_malformed_plugin_names_every_problem():
    with pytest.raises(EnvironmentContractError) as error:
        find_plugin("apigen_pipeline_tests.mock_domain:malformed_plugin")
    message = str(error.value)
    assert "brokenshop" in message
    assert "duplicate tool names: find_user" in message
    assert "tool 'broken' parameters must be a JSON schema with type 'object'" in message


@pytest.mark.parametrize(("mutation", "expected"), [
    (lambda p: dataclasses.replace(p, tools=[*p.tools, Tool(ToolSpec(name="nofn", description="d", kind="read",
                                                                     parameters={"type": "object", "properties": {}}),
                                                           None)]),
     "tool 'nofn' has no function"),
    (lambda p: dataclasses.replace(p, tools=[*p.tools, Tool(ToolSpec(name="sig", description="d", kind="read",
                                                                     parameters={"type": "object", "properties": {"x": {}}}),
                                                           lambda db: 1)]),
     "tool 'sig' function does not accept schema parameters: x"),
    (lambda p: dataclasses.replace(p, tools=[*p.tools, Tool(ToolSpec(name="req", description="d", kind="read",
                                                                     parameters={"type": "object", "properties": {},
                                                                                 "required": ["y"]}),
                                                           lambda db, **kw: 1)]),
     "tool 'req' requires undeclared parameters: y"),
    (lambda p: dataclasses.replace(p, tools=[t for t in p.tools if t.spec.kind == "read"]), "no write tool"),
    (lambda p: dataclasses.replace(p, policy_sections=[]), "no policy text"),
    (lambda p: dataclasses.replace(p, auth_tools=("login",)), "auth tool 'login' is not one of its tools"),
    (lambda p: dataclasses.replace(p, forbidden_pairs=[("cancel_order", "nope")]), "names unknown tool 'nope'"),
    (lambda p: dataclasses.replace(p, name="Bad Name"), "must be lower-case"),
])
def test_contract_violations_are_named(mutation, expected):
    with pytest.raises(EnvironmentContractError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        validate_plugin(mutation(mock_domain.plugin))


def test_unknown_names_and_bad_references_are_clear():
    with pytest.raises(EnvironmentNotFoundError, match="no environment named 'nowhere'"):
        find_plugin("nowhere")
    with pytest.raises(EnvironmentNotFoundError, match="cannot import module"):
        find_plugin("no_such_module_xyz:plugin")
    with pytest.raises(EnvironmentNotFoundError, match="has no attribute"):
        find_plugin("apigen_pipeline_tests.mock_domain:nothing")
    with pytest.raises(EnvironmentContractError, match="not an EnvironmentPlugin"):
        find_plugin("apigen_pipeline_tests.mock_domain:TOOLS")


def test_factory_that_raises_is_reported(tmp_path, monkeypatch):
    (tmp_path / "raising_env.py").write_text(textwrap.dedent("""
        def make():
            raise RuntimeError("boom")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("raising_env", None)
    with pytest.raises(EnvironmentContractError, match="raised RuntimeError: boom"):
        find_plugin("raising_env:make")
