from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from apigen_pipeline.dataset.card import NOT_FOR_TRAINING, DatasetCardInfo
from apigen_pipeline.dataset.export import ExportManifest, ExportSource, export_dataset
from apigen_pipeline.dataset.revalidate import revalidate_export
from apigen_pipeline.dataset.targets import LocalTarget, S3Target
from apigen_pipeline.dataset.validators import validate_openai_example, validate_sharegpt_row
from apigen_pipeline.environments.base import Environment, ToolError
from apigen_pipeline.environments.database import Database, SeedSnapshot, full_state_hash
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.phase2.models import Phase2Result


def _export(phase2_result: Phase2Result, source: ExportSource, card_info: DatasetCardInfo, directory: Path,
            blueprints: list[AcceptedBlueprint]) -> ExportManifest:
    return export_dataset(phase2_result.attempts, source, card_info, LocalTarget(directory),
                          {b.blueprint_id: b for b in blueprints})


@pytest.fixture()
def exported(tmp_path: Path, phase2_result: Phase2Result, source: ExportSource, card_info: DatasetCardInfo,
             blueprints: list[AcceptedBlueprint]) -> tuple[Path, ExportManifest]:
    return tmp_path, _export(phase2_result, source, card_info, tmp_path, blueprints)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_exports_load_with_pandas_and_have_exactly_three_fields(exported: tuple[Path, ExportManifest],
                                                                 phase2_result: Phase2Result) -> None:
    root, manifest = exported
    assert manifest.rows == phase2_result.stats.kept_trajectories > 0
    from_parquet = pd.read_parquet(root / "apigen_mt/mockshop/2026-01-01.parquet")
    from_jsonl = pd.read_json(root / "apigen_mt/mockshop/2026-01-01.jsonl", lines=True)
    for frame in (from_parquet, from_jsonl):
        assert sorted(frame.columns) == ["conversations", "system", "tools"]
        assert len(frame) == manifest.rows
    first_parquet = [dict(turn) for turn in from_parquet.loc[0, "conversations"]]
    assert first_parquet == list(from_jsonl.loc[0, "conversations"])
    openai = pd.read_parquet(root / "openai/mockshop/2026-01-01.parquet")
    assert sorted(openai.columns) == ["messages", "tools"] and len(openai) == manifest.rows


def test_sharegpt_rows_use_four_roles_and_pair_each_call_with_one_observation(
        exported: tuple[Path, ExportManifest]) -> None:
    root, _ = exported
    for row in _jsonl(root / "apigen_mt/mockshop/2026-01-01.jsonl"):
        turns = row["conversations"]
        assert {t["from"] for t in turns} <= {"human", "gpt", "function_call", "observation"}
        for index, turn in enumerate(turns):
            if turn["from"] == "function_call":
                call = json.loads(turn["value"])
                assert set(call) == {"name", "arguments"} and isinstance(call["arguments"], dict)
                assert turns[index + 1]["from"] == "observation"
                assert index + 2 >= len(turns) or turns[index + 2]["from"] != "observation"
            if turn["from"] == "observation":
                assert turns[index - 1]["from"] == "function_call"
        assert "###STOP###" not in json.dumps(turns)
        assert [t["name"] for t in json.loads(row["tools"])] == ["find_user", "get_order", "cancel_order",
                                                                  "rename_user"]
        assert validate_sharegpt_row(row) == []


def test_openai_export_passes_the_independent_validator(exported: tuple[Path, ExportManifest]) -> None:
    root, _ = exported
    examples = _jsonl(root / "openai/mockshop/2026-01-01.jsonl")
    assert examples
    for example in examples:
        assert validate_openai_example(example) == []
        assert example["messages"][0]["role"] == "system" and example["messages"][-1]["role"] == "assistant"


def _replay(environment: Environment, calls: list[tuple[str, dict[str, Any]]]) -> tuple[Database, list[str]]:
    """Replays calls with the plugin's raw tool functions on a database built from the seed: no Environment."""
    plugin = environment.plugin
    database = Database(SeedSnapshot(plugin.generate_data(environment.seed, environment.scale)))
    functions = {tool.spec.name: tool.function for tool in plugin.tools}
    observations = []
    for name, arguments in calls:
        savepoint = database.savepoint()
        try:
            result = functions[name](database, **arguments)
        except (KeyError, TypeError, ToolError) as error:
            database.rollback(savepoint)
            observations.append(f"Error: {error}")
            continue
        observations.append(result if isinstance(result, str) else json.dumps(result, sort_keys=True))
    return database, observations


def test_every_exported_row_re_verifies_by_independent_replay(exported: tuple[Path, ExportManifest],
                                                              environment: Environment,
                                                              blueprints: list[AcceptedBlueprint]) -> None:
    root, _ = exported
    rows = _jsonl(root / "apigen_mt/mockshop/2026-01-01.jsonl")
    lineage = _jsonl(root / "lineage/mockshop/2026-01-01.jsonl")
    by_id = {b.blueprint_id: b for b in blueprints}
    assert len(rows) == len(lineage)
    for row, origin in zip(rows, lineage, strict=True):
        turns = row["conversations"]
        calls = [json.loads(t["value"]) for t in turns if t["from"] == "function_call"]
        recorded = [t["value"] for t in turns if t["from"] == "observation"]
        actual, observations = _replay(environment, [(c["name"], c["arguments"]) for c in calls])
        for seen, replayed in zip(recorded, observations, strict=True):
            assert seen.startswith("Error") if replayed.startswith("Error") else seen == replayed
        blueprint = by_id[origin["blueprint_id"]].blueprint
        expected, _ = _replay(environment, [(a.name, a.arguments) for a in blueprint.actions])
        assert full_state_hash(actual.materialize()) == full_state_hash(expected.materialize())
        replies = " ".join(t["value"] for t in turns if t["from"] == "gpt").lower().replace(",", "")
        assert all(output.lower() in replies for output in blueprint.outputs)


def test_identical_inputs_give_byte_identical_files(tmp_path: Path, phase2_result: Phase2Result,
                                                    source: ExportSource, card_info: DatasetCardInfo,
                                                    blueprints: list[AcceptedBlueprint]) -> None:
    first = _export(phase2_result, source, card_info, tmp_path / "a", blueprints)
    second = _export(phase2_result, source, card_info, tmp_path / "b", blueprints)
    assert [f.sha256 for f in first.files] == [f.sha256 for f in second.files]
    for file in first.files:
        assert (tmp_path / "a" / file.relative_path).read_bytes() == (tmp_path / "b" / file.relative_path).read_bytes()
    changed = _export(phase2_result, source, card_info.model_copy(update={"config_hash": "other"}), tmp_path / "c",
                      blueprints)
    assert changed.file("cards/mockshop/2026-01-01.json").sha256 != first.file("cards/mockshop/2026-01-01.json").sha256  # type: ignore[union-attr]
    assert changed.file("apigen_mt/mockshop/2026-01-01.parquet").sha256 == first.file(  # type: ignore[union-attr]
        "apigen_mt/mockshop/2026-01-01.parquet").sha256  # type: ignore[union-attr]


def test_simulated_data_is_marked_not_for_training(exported: tuple[Path, ExportManifest],
                                                   phase2_result: Phase2Result) -> None:
    root, manifest = exported
    card = json.loads((root / "cards/mockshop/2026-01-01.json").read_text())
    assert card["not_for_training"] is True and card["status"] == NOT_FOR_TRAINING
    assert NOT_FOR_TRAINING in (root / "cards/mockshop/2026-01-01.md").read_text()
    assert card["rows"] == manifest.rows and card["rows_per_domain"] == {"mockshop": manifest.rows}
    kept = phase2_result.trajectories
    assert card["tool_calls"]["max"] == max(a.tool_calls for a in kept)
    assert card["cost"]["projected_usd"] == 1.25 and card["config_hash"] == "abc123"
    # Every kept trajectory was paid for, the ones the exporter left out included.
    assert card["cost"]["verified_trajectories"] == len(kept) == manifest.rows + card["rows_dropped"]
    assert card["cost"]["projected_usd_per_verified_trajectory"] == pytest.approx(1.25 / len(kept), abs=1e-6)
    per_trajectory = f"${card['cost']['projected_usd_per_verified_trajectory']:.4f} projected"
    assert per_trajectory in (root / "cards/mockshop/2026-01-01.md").read_text()


def labelled(result: Phase2Result, *labels: str | None) -> Phase2Result:
    """The attempts with these provenance labels, in turn (the shell derives them from the request log)."""
    return result.model_copy(update={"attempts": [a.model_copy(update={"simulated": labels[i % len(labels)]})
                                                  for i, a in enumerate(result.attempts)]})


def test_real_data_is_not_marked(tmp_path: Path, phase2_result: Phase2Result, source: ExportSource,
                                 card_info: DatasetCardInfo, blueprints: list[AcceptedBlueprint]) -> None:
    manifest = _export(labelled(phase2_result, "false"), source, card_info, tmp_path, blueprints)
    assert manifest.card["not_for_training"] is False and manifest.card["simulated"] == "false"
    assert NOT_FOR_TRAINING not in (tmp_path / "cards/mockshop/2026-01-01.md").read_text()
    assert pq.read_schema(tmp_path / "openai/mockshop/2026-01-01.parquet").metadata[b"apigen.not_for_training"] \
        == b"false"


@pytest.mark.parametrize(("labels", "expected"), [(("true",), "true"), (("false", "true"), "mixed"),
                                                  (("false", None), "false"), ((None,), "unknown")])
def test_rows_label_every_file_and_anything_simulated_or_unknown_is_not_for_training(
        tmp_path: Path, phase2_result: Phase2Result, source: ExportSource, card_info: DatasetCardInfo,
        blueprints: list[AcceptedBlueprint], labels: tuple[str | None, ...], expected: str) -> None:
    manifest = _export(labelled(phase2_result, *labels), source, card_info, tmp_path, blueprints)
    assert manifest.rows >= 2
    assert manifest.card["simulated"] == expected
    assert manifest.card["not_for_training"] is (expected != "false")
    markdown = (tmp_path / "cards/mockshop/2026-01-01.md").read_text()
    assert (NOT_FOR_TRAINING in markdown) is (expected != "false")
    for folder in ("apigen_mt", "openai", "lineage"):
        metadata = pq.read_schema(tmp_path / folder / "mockshop/2026-01-01.parquet").metadata
        assert metadata[b"apigen.simulated"] == expected.encode()
    for folder in ("apigen_mt", "openai"):
        sidecar = json.loads((tmp_path / folder / "mockshop/2026-01-01.provenance.json").read_text())
        assert sidecar["apigen.simulated"] == expected
    lineage = [json.loads(line) for line in (tmp_path / "lineage/mockshop/2026-01-01.jsonl").read_text().splitlines()]
    by_id = {a.trajectory_id: a.simulated for a in labelled(phase2_result, *labels).attempts}
    assert [row["simulated"] for row in lineage] == [by_id[row["trajectory_id"]] for row in lineage]


class _FakeS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        self.objects[(Bucket, Key)] = Body
        return {}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        if (Bucket, Key) not in self.objects:
            raise _NoSuchKey()
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


class _NoSuchKey(Exception):
    """What boto3 raises for an absent key: a ClientError whose response names the code."""

    response = {"Error": {"Code": "NoSuchKey"}}


def test_s3_target_puts_objects_under_the_prefix(tmp_path: Path, phase2_result: Phase2Result, source: ExportSource,
                                                 card_info: DatasetCardInfo, blueprints: list[AcceptedBlueprint]) -> None:
    client = _FakeS3()
    manifest = export_dataset(phase2_result.attempts, source, card_info, S3Target(client, "bucket", "/datasets/v1/"),
                              {b.blueprint_id: b for b in blueprints})
    local = _export(phase2_result, source, card_info, tmp_path, blueprints)
    assert sorted(key for _, key in client.objects) == sorted(f"datasets/v1/{f.relative_path}" for f in manifest.files)
    assert manifest.files[0].location.startswith("s3://bucket/datasets/v1/")
    shared = "apigen_mt/mockshop/2026-01-01.parquet"
    assert client.objects[("bucket", f"datasets/v1/{shared}")] == (tmp_path / shared).read_bytes()
    assert local.rows == manifest.rows


def test_an_s3_export_re_validates_from_the_stored_objects(phase2_result: Phase2Result, source: ExportSource,
                                                           card_info: DatasetCardInfo,
                                                           blueprints: list[AcceptedBlueprint]) -> None:
    client = _FakeS3()
    target = S3Target(client, "bucket", "datasets")
    export_dataset(phase2_result.attempts, source, card_info, target, {b.blueprint_id: b for b in blueprints})
    assert revalidate_export(target, "mockshop", "2026-01-01") == []
    del client.objects[("bucket", "datasets/lineage/mockshop/2026-01-01.jsonl")]
    assert revalidate_export(target, "mockshop", "2026-01-01") == ["lineage/mockshop/2026-01-01.jsonl: missing"]


def test_targets_refuse_paths_that_leave_them(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalTarget(tmp_path).write_bytes("../escape.txt", b"x")
    with pytest.raises(ValueError):
        S3Target(_FakeS3(), "b").write_bytes("/abs.txt", b"x")
