"""`dagster dev` as a test fixture: a real webserver, daemon and code server on 127.0.0.1, driven through
the GraphQL API the UI uses, and stopped with no process left behind.

    with DagsterDevServer(pipeline_config="pipeline.yaml") as server:
        run_id = server.launch_run(multi_partition_key({"domain": "mockshop", "batch": "2026-11-20"}))
        assert server.wait_for_run(run_id).status == "SUCCESS"

Each server gets its own DAGSTER_HOME (the repo's dagster.yaml, plus overrides) and APIGEN_HOME in a
temporary folder. `dagster dev` maps SIGTERM to whatever SIGINT does, and a child of a
non-interactive shell inherits SIGINT *ignored*: the child therefore starts in its own session with
both signals reset to their defaults, so SIGTERM to its process group stops it cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LOCATION = "apigen_pipeline"
REPOSITORY_NAME = "__repository__"  # the repository `dg.Definitions` becomes
ASSET_JOB = "__ASSET_JOB"
PARTITION_TAG = "dagster/partition"
# Run config running every step of a run in the run worker itself: one process per run instead of one
# per step, which is most of a short run's time on a small machine. Pools still apply.
IN_PROCESS_RUN_CONFIG: Mapping[str, Any] = {"execution": {"config": {"in_process": {}}}}

RUN_TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
BACKFILL_TERMINAL = frozenset({"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"})
STEP_EVENT_TYPES = frozenset({"ExecutionStepStartEvent", "ExecutionStepSuccessEvent",
                              "ExecutionStepFailureEvent", "ExecutionStepUpForRetryEvent",
                              "ExecutionStepRestartEvent", "ExecutionStepSkippedEvent"})

T = TypeVar("T")


class DagsterServerError(RuntimeError):
    """The server did not start, a request failed, or a wait timed out; the message says which."""


class LeftoverProcessesError(DagsterServerError):
    """Processes of the server were still alive after it was stopped (they have been killed since)."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: str
    tags: Mapping[str, str] = field(default_factory=dict)
    steps_succeeded: int = 0
    steps_failed: int = 0


@dataclass(frozen=True)
class BackfillInfo:
    backfill_id: str
    status: str
    runs: tuple[RunInfo, ...] = ()

    @property
    def run_statuses(self) -> list[str]:
        return [run.status for run in self.runs]


@dataclass(frozen=True)
class StepEvent:
    run_id: str
    step_key: str
    kind: str  # the GraphQL typename, e.g. ExecutionStepStartEvent
    timestamp_ms: float


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    pgid: int
    sid: int
    start_ticks: int  # distinguishes a process from a later one that reused its pid
    state: str


def multi_partition_key(keys_by_dimension: Mapping[str, str]) -> str:
    """The string form of a multi-partition key: values ordered by dimension name, joined by '|'."""
    return "|".join(keys_by_dimension[name] for name in sorted(keys_by_dimension))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _restore_default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def read_process_table() -> dict[int, ProcessInfo]:
    """All processes from /proc (Linux)."""
    table: dict[int, ProcessInfo] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        # The command name sits in parentheses and may hold spaces: split after the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = ProcessInfo(pid=int(entry.name), state=fields[0], ppid=int(fields[1]),
                                             pgid=int(fields[2]), sid=int(fields[3]), start_ticks=int(fields[19]))
    return table


def descendants(root: int, table: Mapping[int, ProcessInfo]) -> set[int]:
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


class DagsterDevServer:
    """`dagster dev -w <workspace> -h 127.0.0.1 -p <free port>` with its own instance and project home."""

    def __init__(self, *, pipeline_config: str | Path | None = None, workspace: str | Path | None = None,
                 module_name: str | None = None, location_name: str = DEFAULT_LOCATION,
                 instance_overrides: Mapping[str, Any] | None = None, pool_limit: int | None = None,
                 env: Mapping[str, str] | None = None, work_dir: str | Path | None = None,
                 project_dir: str | Path = PROJECT_ROOT, port: int | None = None,
                 startup_timeout_s: float = 180.0, stop_timeout_s: float = 30.0):
        """`module_name` loads that module as the code location instead of `workspace` (default: the
        repo's workspace.yaml). `pool_limit` sets the instance's default pool limit (pool `llm_api`)."""
        self.project_dir = Path(project_dir).resolve()
        self.location_name = location_name
        self.module_name = module_name
        self.workspace = Path(workspace) if workspace else self.project_dir / "workspace.yaml"
        self.pipeline_config = Path(pipeline_config).resolve() if pipeline_config else None
        overrides = dict(instance_overrides or {})
        if pool_limit is not None:
            overrides = deep_merge(overrides, {"concurrency": {"pools": {"default_limit": pool_limit}}})
        self.instance_overrides = overrides
        self.extra_env = dict(env or {})
        self._work_dir_arg = Path(work_dir) if work_dir else None
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.work_dir: Path | None = None
        self._owns_work_dir = False
        self._log_file: Any = None
        self._http: httpx.Client | None = None
        self._seen: dict[int, ProcessInfo] = {}

    # -- paths ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dagster_home(self) -> Path:
        return self._require_work_dir() / "dagster_home"

    @property
    def apigen_home(self) -> Path:
        return Path(self.extra_env["APIGEN_HOME"]) if "APIGEN_HOME" in self.extra_env \
            else self._require_work_dir() / "apigen_home"

    @property
    def log_path(self) -> Path:
        return self._require_work_dir() / "dagster_dev.log"

    def _require_work_dir(self) -> Path:
        if self.work_dir is None:
            raise DagsterServerError("the server has not been started")
        return self.work_dir

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # A failing test must not hide behind a leftover-process error raised while cleaning up.
        self.stop(check_leftovers=exc is None)

    def start(self) -> Self:
        if self.process is not None:
            raise DagsterServerError("the server is already running")
        if self._work_dir_arg is not None:
            self._work_dir_arg.mkdir(parents=True, exist_ok=True)
            self.work_dir = self._work_dir_arg
        else:
            self.work_dir = Path(tempfile.mkdtemp(prefix="apigen-dagster-dev-"))
            self._owns_work_dir = True
        self.port = self.port or free_port()
        self._write_instance_config()
        workspace = self._write_workspace() if self.module_name else self.workspace
        self._log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [self._dagster_executable(), "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=self.project_dir, env=self._child_env(), stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_restore_default_signals,
        )
        self._http = httpx.Client(base_url=self.base_url, timeout=30.0)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop(check_leftovers=False)
            raise
        return self

    def stop(self, check_leftovers: bool = True) -> None:
        """SIGTERM to the process group, wait, SIGKILL as a fallback; then make sure nothing is left."""
        process = self.process
        if process is None:
            return
        self._remember_processes()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # A code server whose parent went first exits on its own heartbeat timeout (30-45 s, `dagster dev`'s
        # defaults) when loaded: leftovers are what is still alive after that.
        leftovers = self._wait_for_group_exit(deadline_s=50.0)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self._http is not None:
            self._http.close()
        if self._log_file is not None:
            self._log_file.close()
        self.process = None
        self._http = None
        if self._owns_work_dir and self.work_dir is not None and not leftovers:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        if leftovers and check_leftovers:
            raise LeftoverProcessesError(f"processes of dagster dev outlived it: {sorted(leftovers)}")

    def leftover_processes(self) -> set[int]:
        """Live processes of this server's group or session, or ever seen as its descendants."""
        if self.process is None and not self._seen:
            return set()
        table = read_process_table()
        root = self.process.pid if self.process is not None else None
        alive: set[int] = set()
        for pid, info in table.items():
            if info.state == "Z":
                continue  # a zombie holds no resources; its parent reaps it
            in_group = root is not None and (info.pgid == root or info.sid == root)
            seen = self._seen.get(pid)
            if in_group or (seen is not None and seen.start_ticks == info.start_ticks):
                alive.add(pid)
        return alive

    def _remember_processes(self) -> None:
        """Run workers and code servers may leave the group: remember every descendant while we can."""
        if self.process is None:
            return
        table = read_process_table()
        for pid in descendants(self.process.pid, table) | {self.process.pid}:
            if pid in table:
                self._seen[pid] = table[pid]

    def _wait_for_group_exit(self, deadline_s: float) -> set[int]:
        deadline = time.monotonic() + deadline_s
        leftovers = self.leftover_processes()
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.2)
            leftovers = self.leftover_processes()
        return leftovers

    def _dagster_executable(self) -> str:
        beside_python = Path(sys.executable).parent / "dagster"
        found = str(beside_python) if beside_python.exists() else shutil.which("dagster")
        if not found:
            raise DagsterServerError("no `dagster` executable next to this Python or on PATH")
        return found

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "APIGEN_"))}
        env["DAGSTER_HOME"] = str(self.dagster_home)
        env["APIGEN_HOME"] = str(self.apigen_home)
        if self.pipeline_config is not None:
            env["APIGEN_CONFIG"] = str(self.pipeline_config)
        # Test-only plugins (e.g. apigen_pipeline_tests.mock_domain) must import in every run worker.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.project_dir), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def instance_config(self) -> dict[str, Any]:
        """The repo's dagster.yaml with this server's overrides: what its DAGSTER_HOME gets."""
        template = self.project_dir / "dagster.yaml"
        base = yaml.safe_load(template.read_text()) if template.exists() else {}
        return deep_merge(base or {}, self.instance_overrides)

    def _write_instance_config(self) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        (self.dagster_home / "dagster.yaml").write_text(yaml.safe_dump(self.instance_config(), sort_keys=False))

    def _write_workspace(self) -> Path:
        path = self._require_work_dir() / "workspace.yaml"
        path.write_text(yaml.safe_dump({"load_from": [{"python_module": {
            "module_name": self.module_name, "location_name": self.location_name,
            "working_directory": str(self.project_dir)}}]}))
        return path

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        self._poll(lambda: self._server_info_answers(), deadline, "/server_info to answer")
        self._poll(lambda: self._location_loaded(), deadline, f"code location {self.location_name} to load")

    def _poll(self, probe: Callable[[], bool], deadline: float, what: str) -> None:
        while True:
            self._check_alive()
            if probe():
                return
            if time.monotonic() > deadline:
                raise DagsterServerError(f"timed out waiting for {what}\n{self.log_tail()}")
            time.sleep(0.5)

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise DagsterServerError(f"dagster dev exited with code {self.process.returncode}\n{self.log_tail()}")

    def _server_info_answers(self) -> bool:
        assert self._http is not None
        try:
            return self._http.get("/server_info", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _location_loaded(self) -> bool:
        data = self.graphql("""{ workspaceOrError { __typename ... on Workspace { locationEntries {
            name loadStatus locationOrLoadError { __typename ... on PythonError { message stack } } } } } }""")
        for entry in data["workspaceOrError"].get("locationEntries", []):
            if entry["name"] != self.location_name or entry["loadStatus"] != "LOADED":
                continue
            error = entry.get("locationOrLoadError") or {}
            if error.get("__typename") == "PythonError":
                raise DagsterServerError(f"code location {self.location_name} failed to load: "
                                         f"{error['message']}\n{''.join(error.get('stack') or [])}")
            return True
        return False

    def log_tail(self, lines: int = 60) -> str:
        if self.work_dir is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- GraphQL -------------------------------------------------------------------------------
    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if self._http is None:
            raise DagsterServerError("the server is not running")
        response = self._http.post("/graphql", json={"query": query, "variables": dict(variables or {})})
        if response.status_code != 200:
            raise DagsterServerError(f"GraphQL HTTP {response.status_code}: {response.text[:2000]}")
        body = response.json()
        if body.get("errors"):
            raise DagsterServerError(f"GraphQL errors: {json.dumps(body['errors'])[:2000]}")
        return body["data"]

    def asset_keys(self) -> list[str]:
        """Every asset of the code location, as '/'-joined paths."""
        data = self.graphql("""query($selector: RepositorySelector!) { repositoryOrError(repositorySelector: $selector) {
            __typename ... on Repository { assetNodes { assetKey { path } } } ... on PythonError { message } } }""",
                            {"selector": self._repository_selector()})
        repository = _expect(data["repositoryOrError"], "Repository")
        return sorted("/".join(node["assetKey"]["path"]) for node in repository["assetNodes"])

    def launch_run(self, partition: str | Mapping[str, str] | None = None, asset_keys: Sequence[str] | None = None,
                   tags: Mapping[str, str] | None = None, run_config: Mapping[str, Any] | None = None,
                   job_name: str = ASSET_JOB) -> str:
        """Materialize assets (default: all) for one partition, as the UI's Materialize button does.

        A multi-partition given as {dimension: key} is tagged like the UI tags it (the key plus one tag
        per dimension); a plain string is tagged as the key alone, like the Python GraphQL client."""
        all_tags = dict(tags or {})
        if isinstance(partition, Mapping):
            all_tags[PARTITION_TAG] = multi_partition_key(partition)
            all_tags.update({f"{PARTITION_TAG}/{dimension}": key for dimension, key in partition.items()})
        elif partition is not None:
            all_tags[PARTITION_TAG] = partition
        selector: dict[str, Any] = {**self._repository_selector_fields(), "pipelineName": job_name}
        if job_name == ASSET_JOB:
            selector["assetSelection"] = _asset_key_inputs(asset_keys or self.asset_keys())
        data = self.graphql("""mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message stack }
            ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } }
            ... on PipelineNotFoundError { message } ... on UnauthorizedError { message } } }""",
                            {"params": {"selector": selector, "runConfigData": dict(run_config or {}),
                                        "executionMetadata": {"tags": _tag_inputs(all_tags)}}})
        return _expect(data["launchPipelineExecution"], "LaunchRunSuccess")["run"]["runId"]

    def launch_backfill(self, partition_names: Sequence[str], asset_keys: Sequence[str] | None = None,
                        tags: Mapping[str, str] | None = None, title: str | None = None,
                        run_config: Mapping[str, Any] | None = None) -> str:
        """An asset backfill over the partitions (default: all assets), through `launchPartitionBackfill`;
        `tags` and `run_config` apply to every run it launches."""
        params: dict[str, Any] = {"partitionNames": list(partition_names),
                                  "assetSelection": _asset_key_inputs(asset_keys or self.asset_keys()),
                                  "tags": _tag_inputs(tags or {})}
        if run_config:
            params["runConfigData"] = dict(run_config)
        if title:
            params["title"] = title
        data = self.graphql("""mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message stack }
            ... on PartitionSetNotFoundError { message } ... on UnauthorizedError { message }
            ... on InvalidSubsetError { message } } }""", {"params": params})
        return _expect(data["launchPartitionBackfill"], "LaunchBackfillSuccess")["backfillId"]

    def cancel_backfill(self, backfill_id: str) -> None:
        data = self.graphql("""mutation($id: String!) { cancelPartitionBackfill(backfillId: $id) {
            __typename ... on CancelBackfillSuccess { backfillId } ... on PythonError { message stack }
            ... on UnauthorizedError { message } } }""", {"id": backfill_id})
        _expect(data["cancelPartitionBackfill"], "CancelBackfillSuccess")

    def backfill(self, backfill_id: str) -> BackfillInfo:
        data = self.graphql("""query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
            ... on PartitionBackfill { id status runs { runId status tags { key value } } }
            ... on PythonError { message } ... on BackfillNotFoundError { message } } }""", {"id": backfill_id})
        backfill = _expect(data["partitionBackfillOrError"], "PartitionBackfill")
        runs = tuple(RunInfo(run_id=r["runId"], status=r["status"], tags=_tags(r["tags"])) for r in backfill["runs"])
        return BackfillInfo(backfill_id=backfill["id"], status=backfill["status"], runs=runs)

    def wait_for_backfill(self, backfill_id: str, timeout_s: float = 180.0,
                          until: Callable[[BackfillInfo], bool] | None = None) -> BackfillInfo:
        """Poll until the backfill ends (or `until` holds)."""
        done = until or (lambda info: info.status in BACKFILL_TERMINAL)
        return self._wait(lambda: self.backfill(backfill_id), done, timeout_s, f"backfill {backfill_id}")

    def run(self, run_id: str) -> RunInfo:
        data = self.graphql("""query($id: ID!) { runOrError(runId: $id) { __typename
            ... on Run { runId status tags { key value }
                stats { __typename ... on RunStatsSnapshot { stepsSucceeded stepsFailed } } }
            ... on RunNotFoundError { message } ... on PythonError { message } } }""", {"id": run_id})
        run = _expect(data["runOrError"], "Run")
        stats = run.get("stats") or {}
        return RunInfo(run_id=run["runId"], status=run["status"], tags=_tags(run["tags"]),
                       steps_succeeded=stats.get("stepsSucceeded") or 0, steps_failed=stats.get("stepsFailed") or 0)

    def wait_for_run(self, run_id: str, timeout_s: float = 120.0) -> RunInfo:
        return self._wait(lambda: self.run(run_id), lambda info: info.status in RUN_TERMINAL, timeout_s,
                          f"run {run_id}")

    def runs(self, tags: Mapping[str, str] | None = None, limit: int = 200) -> list[RunInfo]:
        data = self.graphql("""query($filter: RunsFilter, $limit: Int) { runsOrError(filter: $filter, limit: $limit) {
            __typename ... on Runs { results { runId status tags { key value } } } ... on PythonError { message } } }""",
                            {"filter": {"tags": _tag_inputs(tags or {})}, "limit": limit})
        results = _expect(data["runsOrError"], "Runs")["results"]
        return [RunInfo(run_id=r["runId"], status=r["status"], tags=_tags(r["tags"])) for r in results]

    def step_events(self, run_id: str) -> list[StepEvent]:
        """The run's step lifecycle events (start, success, failure, retry) with their timestamps."""
        events: list[StepEvent] = []
        cursor: str | None = None
        while True:
            data = self.graphql("""query($id: ID!, $cursor: String) { logsForRun(runId: $id, afterCursor: $cursor) {
                __typename ... on EventConnection { cursor hasMore events { __typename
                    ... on MessageEvent { timestamp stepKey } } }
                ... on PythonError { message } ... on RunNotFoundError { message } } }""",
                                {"id": run_id, "cursor": cursor})
            connection = _expect(data["logsForRun"], "EventConnection")
            for event in connection["events"]:
                if event["__typename"] in STEP_EVENT_TYPES and event.get("stepKey"):
                    events.append(StepEvent(run_id=run_id, step_key=event["stepKey"], kind=event["__typename"],
                                            timestamp_ms=float(event["timestamp"])))
            cursor = connection["cursor"]
            if not connection["hasMore"]:
                return events

    def latest_materialization(self, asset_key: str, partition_key: str | None = None) -> dict[str, Any] | None:
        """The newest materialization's metadata ({label: value}) of an asset, optionally of one partition."""
        data = self.graphql("""query($keys: [AssetKeyInput!], $partitions: [String!]) { assetNodes(assetKeys: $keys) {
            assetMaterializations(limit: 1, partitions: $partitions) { partition runId timestamp metadataEntries {
                __typename label
                ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue }
                ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr }
                ... on JsonMetadataEntry { jsonString } ... on BoolMetadataEntry { boolValue } } } } }""",
                            {"keys": _asset_key_inputs([asset_key]),
                             "partitions": [partition_key] if partition_key is not None else None})
        nodes = data["assetNodes"]
        if not nodes or not nodes[0]["assetMaterializations"]:
            return None
        materialization = nodes[0]["assetMaterializations"][0]
        metadata = {entry["label"]: _metadata_value(entry) for entry in materialization["metadataEntries"]}
        return {"partition": materialization["partition"], "run_id": materialization["runId"], "metadata": metadata}

    def set_pool_limit(self, pool: str, limit: int) -> None:
        data = self.graphql("""mutation($key: String!, $limit: Int!) { setConcurrencyLimit(concurrencyKey: $key,
            limit: $limit) }""", {"key": pool, "limit": limit})
        if data["setConcurrencyLimit"] is not True:
            raise DagsterServerError(f"could not set the limit of pool {pool}")

    # -- helpers -------------------------------------------------------------------------------
    def _repository_selector_fields(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location_name, "repositoryName": REPOSITORY_NAME}

    def _repository_selector(self) -> dict[str, str]:
        return self._repository_selector_fields()

    def _wait(self, fetch: Callable[[], T], done: Callable[[T], bool], timeout_s: float, what: str) -> T:
        deadline = time.monotonic() + timeout_s
        while True:
            self._check_alive()
            value = fetch()
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise DagsterServerError(f"timed out after {timeout_s:.0f} s waiting for {what}: {value}")
            time.sleep(0.5)


def _expect(result: dict[str, Any], typename: str) -> dict[str, Any]:
    if result.get("__typename") != typename:
        raise DagsterServerError(f"expected {typename}, got {json.dumps(result)[:3000]}")
    return result


def _asset_key_inputs(asset_keys: Sequence[str]) -> list[dict[str, list[str]]]:
    return [{"path": key.split("/")} for key in asset_keys]


def _tag_inputs(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def _tags(entries: Sequence[Mapping[str, str]]) -> dict[str, str]:
    return {entry["key"]: entry["value"] for entry in entries}


def _metadata_value(entry: Mapping[str, Any]) -> Any:
    for field_name in ("intValue", "floatValue", "text", "mdStr", "boolValue"):
        if field_name in entry:
            return entry[field_name]
    if "jsonString" in entry:
        return json.loads(entry["jsonString"])
    return None
