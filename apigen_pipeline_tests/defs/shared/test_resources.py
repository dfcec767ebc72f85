"""The warehouse resource fails a step on a damaged warehouse without retries: no retry mends a file."""

import os

import dagster as dg
import pytest

from apigen_pipeline.defs.shared.resources import WarehouseResource
from apigen_pipeline.paths import warehouse_path
from apigen_pipeline_tests.warehouse.built_warehouse import build_warehouse


def test_a_damaged_warehouse_fails_the_step_for_good(tmp_path):
    path = warehouse_path(tmp_path)
    build_warehouse(path, partitions=(("retail", "2026-11-20"),), payload_chars=60_000)
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(dg.Failure) as caught:
        WarehouseResource(home=str(tmp_path)).get()
    assert caught.value.allow_retries is False
    assert f"warehouse {path} is damaged" in caught.value.description and "\n" not in caught.value.description
