"""A person's path through the Dagster UI, in a real browser (Debian's chromium driven by Playwright):
see the configured window of batch partitions, open the launchpad of the asset graph, pick one
partition and edit one typed setting, watch the run's progress lines and its success, read the failure
table and the table schema on the asset's page."""

import re
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from apigen_pipeline_tests.e2e.conftest import BATCH_START_DATE, DOMAIN, partition
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


def expected_batch_partitions() -> int:
    """Days from the configured batch_start_date to today (UTC), both included: the batch dimension."""
    return (datetime.now(UTC).date() - date.fromisoformat(BATCH_START_DATE)).days + 1


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
            # The partition count is the configured window, not months of empty batches.
            page.goto(f"{base}/assets/task_contexts?view=partitions")
            expect(page.get_by_text(f"{expected_batch_partitions()} Partitions Selected")).to_be_visible(
                timeout=60_000)

            # The launchpad of "Materialize all": one partition, and one typed setting edited in place.
            page.goto(f"{base}/asset-groups", wait_until="networkidle")
            materialize_all = page.get_by_role("button", name="Materialize all")
            box = materialize_all.bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] + 12, box["y"] + box["height"] / 2)  # its menu
            page.get_by_text("Open launchpad").first.click()
            dialog = page.get_by_role("dialog")
            partition_input = dialog.get_by_placeholder("Partition")
            # Enter picks the highlighted suggestion, which is the first partition until the list has been
            # filtered by what was typed: type again until the selection is the typed partition.
            for _ in range(10):
                partition_input.fill(partition(BATCH))
                page.wait_for_timeout(1_000)
                partition_input.press("Enter")
                page.wait_for_timeout(500)
                if partition_input.input_value() == partition(BATCH):
                    break
            expect(partition_input).to_have_value(partition(BATCH))
            evaluation_k = dialog.locator(".CodeMirror-line", has_text=re.compile(r"^\s*k: 1\s*$"))
            expect(evaluation_k).to_have_count(1)  # settings.evaluation.k, a field of its own
            evaluation_k.click()
            page.keyboard.press("End")
            page.keyboard.press("Backspace")
            page.keyboard.type("2")
            expect(dialog.locator(".CodeMirror-line", has_text=re.compile(r"^\s*k: 2\s*$"))).to_have_count(1)
            expect(dialog.get_by_text("No errors")).to_be_visible(timeout=30_000)
            # Leaving the page right after the click can drop the launch: wait for its answer.
            with page.expect_response(lambda r: "LaunchPipelineExecution" in (r.request.post_data or "")) as launched:
                dialog.get_by_role("button", name="Materialize").last.click()
            answer = launched.value.json()["data"]["launchPipelineExecution"]
            assert answer["__typename"] == "LaunchRunSuccess", answer
            run_id = answer["run"]["id"]

            # Progress lines stream into the run's log while it runs.
            page.goto(f"{base}/runs/{run_id}")
            page.get_by_placeholder(re.compile("Filter", re.IGNORECASE)).first.fill("LLM requests sent")
            expect(page.get_by_text(re.compile(r"blueprints: LLM requests sent: \d+ \(\d+ answered.*cost so far "))
                   .first).to_be_visible(timeout=300_000)
            expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=300_000)
            run = pipeline_server.run(run_id)
            assert run.status == "SUCCESS"
            assert run.tags["dagster/from_ui"] == "true"
            assert run.tags["dagster/partition"] == partition(BATCH)
            assert run.tags["dagster/partition/domain"] == DOMAIN
            passk = pipeline_server.latest_materialization("passk_evaluation", partition(BATCH))
            assert passk is not None and "pass_hat_2" in passk["metadata"]  # the edited k = 2 took effect

            # The failure table and the table's columns, from the asset's page.
            page.goto(f"{base}/assets/{stats_asset}?view=events", wait_until="networkidle")
            expect(page.get_by_text(f"materialized in run {run_id[:8]}").first).to_be_visible(timeout=30_000)
            expect(page.get_by_text(stats_label, exact=True).first).to_be_visible()
            expect(page.get_by_role("table").filter(has_text="reason").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "ui_materialization_failure_stats.png"), full_page=True)
            page.get_by_text("[Show Table Schema]").first.click()
            expect(page.get_by_role("dialog").get_by_text("run_id", exact=True)).to_be_visible(timeout=30_000)
        finally:
            browser.close()
    assert pipeline_server.latest_materialization(stats_asset, partition(BATCH))["run_id"] == run_id
