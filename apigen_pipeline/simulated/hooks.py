"""The plugin hooks the simulated backend takes its domain knowledge from, and the check that a plugin has
the ones the roles it plays need (see `environments/base.py` for the hooks themselves):

- `propose_actions`: the simulated generator's grounded ground truth;
- `ToolSpec.utterance` on every write tool: how the generator words a request and how the simulated agent
  reads it back into a call;
- `auth_tools`: how the generator and the agent authenticate the user.

Without them a simulated run cannot produce a task that verifies; the check says so before anything is
sent, in one line, instead of a batch of generic answers that all fail.
"""

from __future__ import annotations

from collections.abc import Iterable

from apigen_pipeline.environments.base import Environment

DOMAIN_ROLES = ("generator", "agent")  # the roles that play the domain from its hooks


class MissingSimulatedHooks(ValueError):
    """The plugin lacks hooks the simulated backend needs for the roles it plays."""


def missing_hooks(environment: Environment, roles: Iterable[str]) -> list[str]:
    """Each missing hook with the simulated roles that need it (empty when nothing is missing)."""
    playing = [role for role in DOMAIN_ROLES if role in set(roles)]
    plugin = environment.plugin
    missing: list[str] = []
    if "generator" in playing and plugin.propose_actions is None:
        missing.append("propose_actions (generator)")
    silent = [spec.name for spec in environment.tool_specs if spec.kind == "write" and not spec.utterance]
    if playing and silent:
        missing.append(f"ToolSpec.utterance on the write tools {', '.join(silent)} ({', '.join(playing)})")
    if playing and not plugin.auth_tools:
        missing.append(f"auth_tools ({', '.join(playing)})")
    return missing


def require_hooks(environment: Environment, roles: Iterable[str]) -> None:
    """Raise `MissingSimulatedHooks` naming every missing hook when the simulated roles `roles` need them."""
    missing = missing_hooks(environment, roles)
    if missing:
        raise MissingSimulatedHooks(
            f"environment '{environment.name}' lacks the plugin hooks the simulated backend needs: "
            f"{'; '.join(missing)}. Add them (environments/base.py documents each) or send these roles to a "
            "real model (APIGEN_LLM)")
