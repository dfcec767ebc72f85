"""The airline domain (tau-bench's airline facts, re-implemented): flights over one month, users with
memberships and payment methods, reservations, and a policy with executable checks."""

from __future__ import annotations

from apigen_pipeline.environments.airline.data import generate_data
from apigen_pipeline.environments.airline.examples import EXAMPLE_TASKS
from apigen_pipeline.environments.airline.policy import POLICY_CHECKS, POLICY_SECTIONS
from apigen_pipeline.environments.airline.rules import NOW
from apigen_pipeline.environments.airline.sampling import propose_actions, sample_domain_data
from apigen_pipeline.environments.airline.tools import TOOLS
from apigen_pipeline.environments.base import EnvironmentPlugin

plugin = EnvironmentPlugin(
    name="airline",
    tools=TOOLS,
    policy_sections=POLICY_SECTIONS,
    generate_data=generate_data,
    policy_checks=POLICY_CHECKS,
    sample_domain_data=sample_domain_data,
    example_tasks=EXAMPLE_TASKS,
    # The policy allows any two writes in one task as long as they act on different reservations,
    # which the samplers guarantee; no tool pair is forbidden outright.
    forbidden_pairs=(),
    auth_tools=("get_user_details",),
    terminating_tools=("transfer_to_human_agents",),
    propose_actions=propose_actions,
    description=("Airline customer service: book, change, cancel reservations, add bags, edit passengers and "
                 f"compensate disruptions for one authenticated user. The clock is fixed at {NOW} Eastern."),
    default_seed=0,
    extra={"now": NOW},
)

__all__ = ["plugin"]
