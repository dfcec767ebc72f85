"""The partition's domain environment, loaded from the pipeline config for any asset or check."""

from __future__ import annotations

from apigen_pipeline.defs.shared.policies import non_retryable
from apigen_pipeline.defs.shared.resources import PipelineConfigResource
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.registry import (
    EnvironmentContractError,
    EnvironmentNotFoundError,
    find_plugin,
    load_environment,
)


def environment_for(config_resource: PipelineConfigResource, domain: str) -> tuple[Environment, str]:
    """The domain's environment and where its plugin came from; a bad plugin fails without retries."""
    domain_config = config_resource.load().domain(domain)
    try:
        _, source = find_plugin(domain_config.reference)
        environment = load_environment(domain_config.reference, domain_config.seed, domain_config.scale)
    except (EnvironmentContractError, EnvironmentNotFoundError) as error:
        raise non_retryable(f"domain '{domain}': {error}") from error
    return environment, source
