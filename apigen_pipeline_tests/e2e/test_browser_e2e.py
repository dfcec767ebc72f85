"""A person's path through the Dagster UI, in a real browser (Debian's chromium driven by Playwright):
open the asset graph, materialize one partition, watch the run succeed, read the failure stats."""

import re
import subprocess
from pathlib import Path

import pytest

from apigen_pipeline_tests.e2e.conftest import DOMAIN, partition
from apigen_pipeline_tests.support.dagster_server import PROJECT_ROOT, DagsterDevServer

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
BATCH = "2026-11-21"
# Where the failure statistics live, best first: (asset, metadata label).
STATS_ASSETS = [("blueprints", "failures_by_reason"), ("task_contexts", "dagster/row_count")]


@pytest.fixture(scope="module")
def chromium() -> str:
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "install_browser.sh")], check=False,
                       capture_output=True, timeout=900)
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent and scripts/install_browser.sh could not install it")
    return str(CHROMIUM)


def test_materializing_a_partition_from_the_ui_and_reading_its_failure_stats(pipeline_server: DagsterDevServer,
                                                                             chromium: str):
    from playwright.sync_api import expect, sync_playwright

    base = pipeline_server.base_url
    assets = set(pipeline_server.asset_keys())
    stats_asset, stats_label = next((a, label) for a, label in STATS_ASSETS if a in assets)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/asset-groups", wait_until="networkidle")
            page.get_by_role("button", name="Materialize all").click()
            dialog = page.get_by_role("dialog")
            batch_input = dialog.get_by_placeholder(re.compile(r"^ex: "))
            batch_input.fill(BATCH)
            batch_input.press("Enter")
            dialog.get_by_role("button", name="All", exact=True).last.click()  # every domain: just the mock one
            # Leaving the page right after the click can drop the launch: wait for its answer.
            with page.expect_response(lambda r: "LaunchPipelineExecution" in (r.request.post_data or "")) as launched:
                dialog.get_by_role("button", name="Launch 1 run").click()
            answer = launched.value.json()["data"]["launchPipelineExecution"]
            assert answer["__typename"] == "LaunchRunSuccess", answer
            run_id = answer["run"]["id"]

            page.goto(f"{base}/runs/{run_id}")
            expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=300_000)
            run = pipeline_server.run(run_id)
            assert run.status == "SUCCESS"
            assert run.tags["dagster/from_ui"] == "true"
            assert run.tags["dagster/partition"] == partition(BATCH)
            assert run.tags["dagster/partition/domain"] == DOMAIN

            page.goto(f"{base}/assets/{stats_asset}?view=events", wait_until="networkidle")
            expect(page.get_by_text(f"materialized in run {run_id[:8]}").first).to_be_visible(timeout=30_000)
            expect(page.get_by_text(stats_label, exact=True).first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "ui_materialization_failure_stats.png"), full_page=True)
        finally:
            browser.close()
    assert pipeline_server.latest_materialization(stats_asset, partition(BATCH))["run_id"] == run_id
