"""An in-process binding from domain name to its `Environment`.

The simulated Phase 1 roles answer from environment knowledge (e.g. the plugin's `propose_actions`),
but a request carries only text; the runner binds the environment here so a simulated handler in the
same process can find it. Real providers never look at it.
"""

from __future__ import annotations

from apigen_pipeline.environments.base import Environment

_BOUND: dict[str, Environment] = {}


def bind_environment(domain: str, environment: Environment) -> None:
    _BOUND[domain] = environment


def bound_environment(domain: str) -> Environment | None:
    return _BOUND.get(domain)

