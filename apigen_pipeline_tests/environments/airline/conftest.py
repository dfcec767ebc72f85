"""Shared fixtures: one seed-0 airline Environment per test session (its snapshot is built once)."""

from __future__ import annotations

import pytest

from apigen_pipeline.environments.airline import plugin
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.database import Database


@pytest.fixture(scope="session")
def env() -> Environment:
    return Environment(plugin)


@pytest.fixture
def db(env: Environment) -> Database:
    return env.fresh_database()
