import dagster as dg
import pytest


@pytest.fixture(scope="module")
def shared_instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture()
def instance(shared_instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """One SQLite instance per module (creating one costs seconds), emptied for every test."""
    shared_instance.wipe()
    return shared_instance
