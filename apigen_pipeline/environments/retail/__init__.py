"""The retail domain: an online store's users, orders and products (tau-bench's retail facts, our code).

The pipeline loads `plugin` through the `apigen_pipeline.environments` entry point.
"""

from __future__ import annotations

from apigen_pipeline.environments.base import EnvironmentPlugin
from apigen_pipeline.environments.retail.data import DEFAULT_COUNTS, generate_data
from apigen_pipeline.environments.retail.domain import AUTH_TOOLS
from apigen_pipeline.environments.retail.examples import EXAMPLE_TASKS
from apigen_pipeline.environments.retail.policy import FORBIDDEN_PAIRS, POLICY_CHECKS, POLICY_SECTIONS
from apigen_pipeline.environments.retail.sampling import propose_actions, sample_domain_data
from apigen_pipeline.environments.retail.tools import TOOLS

plugin = EnvironmentPlugin(
    name="retail",
    tools=TOOLS,
    policy_sections=POLICY_SECTIONS,
    generate_data=generate_data,
    policy_checks=POLICY_CHECKS,
    sample_domain_data=sample_domain_data,
    example_tasks=EXAMPLE_TASKS,
    forbidden_pairs=FORBIDDEN_PAIRS,
    auth_tools=AUTH_TOOLS,
    terminating_tools=("transfer_to_human_agents",),
    propose_actions=propose_actions,
    description=("An online store: users with addresses and payment methods (credit card, PayPal, gift card), "
                 "orders that can be cancelled, modified, returned or exchanged, and products with variant "
                 "items. Default size: " + ", ".join(f"{n} {table}" for table, n in DEFAULT_COUNTS.items()) + "."),
    default_seed=0,
)

__all__ = ["plugin"]
