"""Plugins for CLI tests: the mock shop, but its sampler breaks, so a run passes every check before it
starts and then fails in its `task_contexts` step."""

import dataclasses

from apigen_pipeline.environments.base import EnvironmentPlugin
from apigen_pipeline_tests.mock_domain import plugin as mock_plugin


def _broken_sampler(*args, **kwargs):
    raise RuntimeError("the sampler of this test plugin always breaks")


failing_sampler_plugin: EnvironmentPlugin = dataclasses.replace(mock_plugin, name="brokenshop",
                                                                sample_domain_data=_broken_sampler)
