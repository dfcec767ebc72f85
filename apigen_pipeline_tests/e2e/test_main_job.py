"""README command (a): `apigen run` on the default partition of both built-in domains, offline, through
Dagster; every exported row re-verified by an independent replay; loads with pandas and `datasets`."""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from apigen_pipeline.environments.database import Database, SeedSnapshot, full_state_hash
from apigen_pipeline.environments.registry import find_plugin

BATCH = "2026-11-24"
ROLES = {"human", "gpt", "function_call", "observation"}


@pytest.fixture(scope="module")
def main_job(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("main_job")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APIGEN_", "DAGSTER_"))}
    completed = subprocess.run([sys.executable, "-m", "apigen_pipeline.cli", "run", "--batch", BATCH,
                                "--contexts", "6"], cwd=workdir, env=env, capture_output=True, text=True,
                               timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert f"airline|{BATCH}: SUCCESS" in completed.stdout and f"retail|{BATCH}: SUCCESS" in completed.stdout
    assert "warehouse:" in completed.stdout and "exports:" in completed.stdout
    return workdir / ".apigen_home"


def independent_replay(domain: str, conversation: list[dict]) -> str:
    """Replays a ShareGPT conversation's function calls with the plugin's raw tool functions on a freshly
    generated database (no Environment, no Session: not the code under test) and hashes the result."""
    plugin, _ = find_plugin(domain)
    database = Database(SeedSnapshot(plugin.generate_data(plugin.default_seed, 1.0)))
    functions = {tool.spec.name: tool.function for tool in plugin.tools}
    for turn in conversation:
        if turn["from"] == "function_call":
            call = json.loads(turn["value"])
            # A failed call changes nothing: the tools validate before they write.
            with contextlib.suppress(Exception):
                functions[call["name"]](database, **call["arguments"])
    return full_state_hash(database.materialize())


@pytest.mark.slow
def test_main_job_materializes_the_whole_graph_for_both_domains(main_job):
    with duckdb.connect(str(main_job / "warehouse.duckdb"), read_only=True) as con:
        specs = dict(con.execute("select domain, count(*) from environment_tools where batch = ? group by domain",
                                 [BATCH]).fetchall())
        contexts = dict(con.execute("select domain, count(*) from task_contexts where batch = ? group by domain",
                                    [BATCH]).fetchall())
        kept = dict(con.execute("select domain, count(*) from trajectories where batch = ? group by domain",
                                [BATCH]).fetchall())
        expected = {row[0]: row[1] for row in con.execute(
            "select blueprint_id, state_hash from blueprints where batch = ?", [BATCH]).fetchall()}
    assert specs["retail"] == 16 and specs["airline"] == 14
    assert contexts == {"retail": 6, "airline": 6}
    assert set(kept) == {"retail", "airline"}
    assert (main_job / "dagster_home" / "history").exists()  # runs recorded in a persistent instance
    assert expected


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_every_exported_row_reverifies_by_independent_replay(main_job, domain):
    root = main_job / "exports"
    rows = pd.read_parquet(root / "apigen_mt" / domain / f"{BATCH}.parquet")
    lineage = pd.read_parquet(root / "lineage" / domain / f"{BATCH}.parquet")
    with duckdb.connect(str(main_job / "warehouse.duckdb"), read_only=True) as con:
        expected = dict(con.execute("select blueprint_id, state_hash from blueprints where domain = ? and batch = ?",
                                    [domain, BATCH]).fetchall())
    assert len(rows) == len(lineage) > 0
    for conversation, blueprint_id in zip(rows["conversations"], lineage["blueprint_id"], strict=True):
        turns = list(conversation)
        assert {t["from"] for t in turns} <= ROLES
        assert independent_replay(domain, turns) == expected[blueprint_id]


@pytest.mark.slow
def test_exports_load_with_the_datasets_library(main_job):
    datasets = pytest.importorskip("datasets")
    root = main_job / "exports"
    sharegpt = datasets.load_dataset("parquet", data_files=str(root / "apigen_mt" / "*" / f"{BATCH}.parquet"),
                                     split="train", cache_dir=str(main_job / "hf_cache"))
    assert sharegpt.column_names == ["conversations", "system", "tools"]
    for row in sharegpt:
        conversation = row["conversations"]
        for index, turn in enumerate(conversation):
            if turn["from"] == "function_call":
                assert isinstance(json.loads(turn["value"])["arguments"], dict)
                assert conversation[index + 1]["from"] == "observation"
        assert isinstance(json.loads(row["tools"]), list)
    openai = datasets.load_dataset("json", data_files=str(root / "openai" / "*" / f"{BATCH}.jsonl"), split="train",
                                   cache_dir=str(main_job / "hf_cache"))
    assert {"messages", "tools"} <= set(openai.column_names)
    assert len(openai) == len(sharegpt)
