"""A several-machine deployment on one machine, for the scale-out test: PostgreSQL (Dagster run
storage + DuckLake catalog, in databases of our own), Redis (Celery broker and results, in db numbers
of our own), a moto S3 server on a free port, and "machines" (two Celery workers and launchers), each
with its own HOME, DAGSTER_HOME and APIGEN_HOME. Everything started here is stopped by `close()`,
and the databases, Redis dbs and folders created here are removed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
BUCKET = "apigen-scaleout"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")


@dataclass
class Machine:
    name: str
    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def apigen_home(self) -> Path:
        return self.root / "apigen_home"


@dataclass
class Cluster:
    root: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    s3_port: int = 0
    redis_dbs: tuple[int, int] = (14, 15)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    started_redis: bool = False
    pipeline_config: Path | None = None

    @property
    def dagster_db(self) -> str:
        return f"apigen_dagster_{self.token}"

    @property
    def lake_db(self) -> str:
        return f"apigen_lake_{self.token}"

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    # -- services ---------------------------------------------------------------------------------
    def start_services(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._ensure_postgres()
        self._ensure_redis()
        self._psql(f"CREATE DATABASE {self.dagster_db}", f"CREATE DATABASE {self.lake_db}")
        self.s3_port = free_port()
        self.spawn("moto", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.s3_port)],
                   env=os.environ.copy(), cwd=self.root)
        wait_for(lambda: port_open("127.0.0.1", self.s3_port), 30, "moto S3 server")
        self.s3_client().create_bucket(Bucket=BUCKET)

    def _ensure_postgres(self) -> None:
        if port_open(PG_HOST, PG_PORT):
            return
        # The machine's own cluster, stopped: start it (it is not ours to stop afterwards).
        subprocess.run(["bash", "-c", "pg_ctlcluster $(pg_lsclusters -h | awk 'NR==1{print $1, $2}') start"],
                       check=True)
        wait_for(lambda: port_open(PG_HOST, PG_PORT), 30, "PostgreSQL on 127.0.0.1:5432")

    def _ensure_redis(self) -> None:
        if port_open(REDIS_HOST, REDIS_PORT):
            return
        self.spawn("redis", ["redis-server", "--bind", REDIS_HOST, "--port", str(REDIS_PORT), "--save", "",
                             "--appendonly", "no"], env=os.environ.copy(), cwd=self.root)
        self.started_redis = True
        wait_for(lambda: port_open(REDIS_HOST, REDIS_PORT), 20, "Redis on 127.0.0.1:6379")

    def _psql(self, *statements: str, database: str = "postgres") -> None:
        import psycopg2

        con = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            con.close()

    def s3_client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_endpoint_url, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def s3_keys(self, prefix: str) -> list[str]:
        paginator = self.s3_client().get_paginator("list_objects_v2")
        return [o["Key"] for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix) for o in page.get("Contents", [])]

    # -- machines ---------------------------------------------------------------------------------
    def machine(self, name: str, shared_spool: Path | None = None) -> Machine:
        machine = Machine(name, self.root / name)
        for folder in (machine.home, machine.dagster_home, machine.apigen_home):
            folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "deploy" / "celery" / "dagster.yaml", machine.dagster_home / "dagster.yaml")
        if shared_spool is not None and not (machine.apigen_home / "request_spool").exists():
            # A shared volume mounted at the spool path on every machine: a dead worker's answered
            # requests are recovered by whichever machine runs the next LLM step.
            shared_spool.mkdir(parents=True, exist_ok=True)
            (machine.apigen_home / "request_spool").symlink_to(shared_spool)
        return machine

    def env(self, machine: Machine, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("APIGEN_", "DAGSTER_")) or k == "APIGEN_SCALEOUT_CODE_MODULE"}
        env.update({
            "HOME": str(machine.home), "DAGSTER_HOME": str(machine.dagster_home),
            "APIGEN_HOME": str(machine.apigen_home), "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
            "APIGEN_STORAGE": "ducklake",
            "APIGEN_LAKE_CATALOG": f"postgres:dbname={self.lake_db} host={PG_HOST} port={PG_PORT} user={PG_USER}",
            "APIGEN_LAKE_DATA_PATH": f"s3://{BUCKET}/lake/",
            "APIGEN_S3_ENDPOINT_URL": self.s3_endpoint_url, "APIGEN_S3_BUCKET": BUCKET,
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
            "DAGSTER_PG_HOST": PG_HOST, "DAGSTER_PG_PORT": str(PG_PORT), "DAGSTER_PG_DB": self.dagster_db,
            "DAGSTER_PG_USER": PG_USER, "DAGSTER_PG_PASSWORD": "",
            "APIGEN_EXECUTOR": "celery",
            "APIGEN_CELERY_BROKER": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_dbs[0]}",
            "APIGEN_CELERY_BACKEND": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_dbs[1]}",
            "PYTHONUNBUFFERED": "1",
        })
        if self.pipeline_config is not None:
            env["APIGEN_CONFIG"] = str(self.pipeline_config)
        env.update(extra)
        return env

    def spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own process group: stopped as a whole
        log.close()
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def run(self, machine: Machine, argv: list[str], timeout_s: float = 300, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env(machine, **extra), cwd=machine.root, capture_output=True,
                              text=True, timeout=timeout_s)

    def start_worker(self, machine: Machine) -> subprocess.Popen:
        return self.spawn(machine.name, [
            str(VENV_BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
            "-y", str(REPO / "deploy" / "celery" / "celery.yaml"), "-n", machine.name, "--", "--concurrency=1",
        ], env=self.env(machine), cwd=machine.root)

    def wait_workers_ready(self, names: list[str], timeout_s: float = 120) -> None:
        def ready() -> bool:
            for name in names:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"worker {name} exited:\n{self.log(name)[-3000:]}")
            return all(" ready." in self.log(name) for name in names)

        wait_for(ready, timeout_s, f"Celery workers {names}", interval_s=0.5)

    def pool_children(self, name: str) -> list[int]:
        """PIDs of the Celery pool processes (the ones that run steps) of one worker."""
        group = os.getpgid(self.processes[name].pid)
        out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,ppid="], capture_output=True, text=True).stdout
        rows = [tuple(int(x) for x in line.split()) for line in out.splitlines() if line.strip()]
        members = {pid: ppid for pid, pgid, ppid in rows if pgid == group}
        return sorted(pid for pid, ppid in members.items() if ppid in members)

    def stop(self, name: str, grace_s: float = 15) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)  # Celery's warm shutdown, then the wrapper exits
            process.wait(timeout=grace_s)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def close(self) -> None:
        for name in [n for n in self.processes if n not in ("moto", "redis")]:
            self.stop(name)
        try:
            import redis

            for db in self.redis_dbs:
                redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()
        except Exception:  # noqa: BLE001 - best effort; Redis may be the one that failed
            pass
        for name in ("moto", "redis"):
            self.stop(name, grace_s=5)
        # Best effort: a failure here must not hide the test's own failure.
        with contextlib.suppress(Exception):
            self._psql(f"DROP DATABASE IF EXISTS {self.dagster_db} WITH (FORCE)",
                       f"DROP DATABASE IF EXISTS {self.lake_db} WITH (FORCE)")
        if os.environ.get("APIGEN_SCALEOUT_KEEP_LOGS"):
            keep = Path(os.environ["APIGEN_SCALEOUT_KEEP_LOGS"])
            keep.mkdir(parents=True, exist_ok=True)
            for log in self.root.glob("*.log"):
                shutil.copy(log, keep / log.name)
        shutil.rmtree(self.root, ignore_errors=True)
