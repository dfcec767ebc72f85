"""training_dataset writes to s3:// through dagster-aws's S3Resource, against a local moto server."""

import io
import json

import boto3
import dagster as dg
import pandas as pd
import pytest

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.automation.batches import BATCH_JOB_NAME
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.paths import warehouse_path
from apigen_pipeline_tests.s3_server import moto_s3

BATCH = "2026-11-23"
PLANTED_SECRET = "moto-secret-PLANTED-4242"


@pytest.mark.slow
def test_training_dataset_exports_to_s3(mock_config, monkeypatch):
    with moto_s3("datasets") as endpoint:
        monkeypatch.setenv("APIGEN_S3_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", PLANTED_SECRET)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        config = PipelineConfig.model_validate({**mock_config.model_dump(mode="json"),
                                                "export": {"target": "s3://datasets/apigen"},
                                                "evaluation": {"enabled": False}})
        job = build_definitions(config=config).resolve_job_def(BATCH_JOB_NAME)
        with dg.instance_for_test() as instance:
            result = job.execute_in_process(partition_key=Partition("mockshop", BATCH).key(), instance=instance,
                                            raise_on_error=False)
        assert result.success
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="datasets", Prefix="apigen/")["Contents"])
        assert f"apigen/apigen_mt/mockshop/{BATCH}.parquet" in keys
        assert f"apigen/openai/mockshop/{BATCH}.jsonl" in keys
        assert f"apigen/cards/mockshop/{BATCH}.json" in keys
        body = client.get_object(Bucket="datasets", Key=f"apigen/apigen_mt/mockshop/{BATCH}.parquet")["Body"].read()
        rows = pd.read_parquet(io.BytesIO(body))
        assert list(rows.columns) == ["conversations", "system", "tools"]
        card = json.loads(client.get_object(Bucket="datasets", Key=f"apigen/cards/mockshop/{BATCH}.json")["Body"].read())
        assert card["rows"] == len(rows)
        metadata = next(e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()
                        if e.event_specific_data.materialization.asset_key == dg.AssetKey("training_dataset"))
        assert metadata["location"].value == "s3://datasets/apigen"
        # Credentials are read from the environment, never stored with the run or in the warehouse.
        assert PLANTED_SECRET not in json.dumps({k: str(v.value) for k, v in metadata.items()})
        assert PLANTED_SECRET.encode() not in warehouse_path().read_bytes()
