"""The pure parts of the `dagster dev` fixture: partition keys, instance config, process discovery."""

import os
import signal
import subprocess
import time

import dagster as dg
import pytest

from apigen_pipeline.defs.shared.partitions import Partition, parse_partition_key
from apigen_pipeline_tests.support.dagster_server import (
    DagsterDevServer,
    deep_merge,
    descendants,
    multi_partition_key,
    read_process_table,
)


def test_multi_partition_keys_match_dagsters_string_form_and_parse_back():
    keys = {"domain": "retail", "batch": "2026-11-20"}
    assert multi_partition_key(keys) == str(dg.MultiPartitionKey(keys)) == "2026-11-20|retail"
    assert parse_partition_key("2026-11-20|retail") == keys
    assert Partition("retail", "2026-11-20").key() == dg.MultiPartitionKey(parse_partition_key("2026-11-20|retail"))
    with pytest.raises(ValueError):
        parse_partition_key("2026-11-20")


def test_the_instance_config_is_the_repos_with_overrides():
    server = DagsterDevServer(pool_limit=1, instance_overrides={"run_retries": {"max_retries": 0}})
    config = server.instance_config()
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["concurrency"]["runs"]["max_concurrent_runs"] >= 1  # kept from dagster.yaml
    assert config["run_retries"] == {**config["run_retries"], "max_retries": 0, "enabled": True}
    assert config["nux"] == {"enabled": False}


def test_deep_merge_keeps_siblings_and_replaces_leaves():
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": 3}, "d": [2]}) == {"a": {"b": 3, "c": 2},
                                                                                     "d": [2]}


def test_process_discovery_finds_a_groups_descendants():
    parent = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            table = read_process_table()
            children = descendants(parent.pid, table)
            if len(children) >= 2:
                break
            time.sleep(0.05)
        assert len(children) >= 2
        assert all(table[pid].pgid == parent.pid for pid in children)
        assert table[parent.pid].sid == parent.pid
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
    time.sleep(0.1)
    assert not descendants(parent.pid, read_process_table())
