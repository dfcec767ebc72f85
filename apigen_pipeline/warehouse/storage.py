"""Where the warehouse's tables live, chosen by configuration: a local DuckDB file (the default) or a
DuckLake (catalog in PostgreSQL, a DuckDB file or SQLite; data as Parquet on S3 or in a folder).

The SQL is the same in both modes (see DESIGN.md, "Storage"); only the connection differs. A DuckLake
connection costs an ATTACH (~0.5 s against PostgreSQL) and extension loads, so each process opens one
and reuses it (`shared_lake_connection`). Extensions come from the `duckdb-extension-*` wheels with
`autoinstall_known_extensions` off: a missing one fails at once, naming the wheel, instead of trying
the network. Every start-up problem (missing wheel, unreachable catalog, bad S3 credentials) raises
`StorageError` before anything else happens, so no LLM request is ever sent into a broken deployment.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar
from urllib.parse import urlparse

import duckdb
from pydantic import ValidationError, model_validator

from apigen_pipeline.records import FrozenModel
from apigen_pipeline.warehouse.errors import is_ducklake_commit_conflict, is_missing_ducklake, lock_conflict

logger = logging.getLogger(__name__)

T = TypeVar("T")

ENV_PREFIX = "APIGEN_"
# The DuckDB extension each storage feature needs, by the name `import_extension` and LOAD use.
CATALOG_EXTENSIONS = {"postgres": "postgres", "sqlite": "sqlite"}
S3_EXTENSIONS = ("httpfs",)
CREDENTIAL_CHAIN_EXTENSION = "aws"
_PASSWORD = re.compile(r"(password\s*=\s*)[^\s\"']+", re.IGNORECASE)


class StorageError(RuntimeError):
    """The configured storage cannot be used; the message names the problem and the fix."""


class S3Settings(FrozenModel):
    """How DuckDB reaches S3. Credentials never live here: they come from the environment
    (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, set by the platform's secret store) or, when those
    are absent, from the AWS credential chain (instance profile, ECS task role, IRSA, ~/.aws)."""

    endpoint: str | None = None        # host:port of an S3-compatible server (MinIO, moto); None = AWS
    region: str = "us-east-1"
    use_ssl: bool = True
    url_style: Literal["path", "vhost"] | None = None   # default: path for a custom endpoint
    key_id_env: str = "AWS_ACCESS_KEY_ID"
    secret_env: str = "AWS_SECRET_ACCESS_KEY"
    session_token_env: str = "AWS_SESSION_TOKEN"


class StorageSettings(FrozenModel):
    """`mode: duckdb` keeps today's single file; `mode: ducklake` needs `catalog` and `data_path`.

    catalog: what follows `ducklake:` in ATTACH: `postgres:dbname=lake host=db.internal user=apigen`
    (password from PGPASSWORD or ~/.pgpass, as libpq reads them), `sqlite:/abs/lake.sqlite`, or a
    DuckDB file `/abs/lake.ducklake` (one process at a time).
    data_path: `s3://bucket/prefix/` or an absolute folder (a relative one would be resolved against
    each process's working directory).
    """

    mode: Literal["duckdb", "ducklake"] = "duckdb"
    catalog: str | None = None
    data_path: str | None = None
    lake_name: str = "lake"
    s3: S3Settings = S3Settings()
    # Workers must not race to create the catalog's tables: only the setup step migrates, unless allowed.
    migrate_on_open: bool = False
    # Writes of fewer rows are kept in the catalog instead of one tiny Parquet file each: partition
    # writes and request-log bursts are small, and every file costs reads an S3 request.
    # `lake_setup compact` moves inlined rows to Parquet on the data path.
    inline_row_limit: int = 1000
    conflict_attempts: int = 10
    conflict_backoff_s: float = 0.05
    extension_directory: str | None = None

    @model_validator(mode="after")
    def _ducklake_needs_locations(self) -> StorageSettings:
        if self.mode == "ducklake":
            missing = [name for name in ("catalog", "data_path") if not getattr(self, name)]
            if missing:
                variables = ", ".join(ENV_PREFIX + _FIELD_VARIABLES[name] for name in missing)
                raise ValueError(f"storage mode 'ducklake' needs {' and '.join(missing)} ({variables})")
            if not (self.data_path or "").startswith("s3://") and not os.path.isabs(self.data_path or ""):
                raise ValueError(f"data_path '{self.data_path}' must be s3://... or an absolute folder: "
                                 "a relative one resolves against each process's working directory")
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.lake_name):
                raise ValueError(f"lake_name '{self.lake_name}' is not a plain identifier")
        if self.conflict_attempts < 1:
            raise ValueError("conflict_attempts must be at least 1")
        return self

    @property
    def is_lake(self) -> bool:
        return self.mode == "ducklake"

    @property
    def catalog_kind(self) -> Literal["postgres", "sqlite", "duckdb"]:
        prefix = (self.catalog or "").split(":", 1)[0]
        return prefix if prefix in CATALOG_EXTENSIONS else "duckdb"  # type: ignore[return-value]

    @property
    def on_s3(self) -> bool:
        return (self.data_path or "").startswith("s3://")

    def required_extensions(self, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
        if not self.is_lake:
            return ()
        needed = ["ducklake"]
        if self.catalog_kind in CATALOG_EXTENSIONS:
            needed.append(CATALOG_EXTENSIONS[self.catalog_kind])
        if self.on_s3:
            needed.extend(S3_EXTENSIONS)
            if not self.explicit_s3_credentials(env):
                needed.append(CREDENTIAL_CHAIN_EXTENSION)
        return tuple(needed)

    def explicit_s3_credentials(self, env: Mapping[str, str] | None = None) -> tuple[str, str, str] | None:
        env = os.environ if env is None else env
        key_id, secret = env.get(self.s3.key_id_env, ""), env.get(self.s3.secret_env, "")
        return (key_id, secret, env.get(self.s3.session_token_env, "")) if key_id and secret else None

    def describe(self) -> str:
        """For messages and logs: never shows a password."""
        if not self.is_lake:
            return "local DuckDB file"
        return f"DuckLake catalog {mask_secrets(self.catalog or '')} with data at {self.data_path}"

    def identity(self) -> tuple[str, str, str]:
        return (self.catalog or "", self.data_path or "", self.lake_name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StorageSettings:
        """APIGEN_STORAGE=duckdb|ducklake, APIGEN_LAKE_CATALOG, APIGEN_LAKE_DATA_PATH, APIGEN_LAKE_NAME,
        APIGEN_S3_ENDPOINT_URL (http[s]://host:port, shared with the S3 resource) or APIGEN_S3_ENDPOINT
        (host:port), APIGEN_S3_REGION (else AWS_DEFAULT_REGION / AWS_REGION), APIGEN_S3_USE_SSL,
        APIGEN_S3_URL_STYLE, APIGEN_LAKE_INLINE_ROWS, APIGEN_LAKE_MIGRATE_ON_OPEN, APIGEN_DUCKDB_EXTENSION_DIR."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name, "").strip()
            return value or None

        s3: dict[str, object] = {}
        for name, key in (("S3_ENDPOINT", "endpoint"), ("S3_REGION", "region"), ("S3_URL_STYLE", "url_style")):
            if get(name):
                s3[key] = get(name)
        # One variable serves DuckDB and boto3 (dagster-aws S3Resource): APIGEN_S3_ENDPOINT_URL.
        if "endpoint" not in s3 and get("S3_ENDPOINT_URL"):
            url = urlparse(get("S3_ENDPOINT_URL") or "")
            s3["endpoint"] = url.netloc or url.path
            s3["use_ssl"] = url.scheme != "http"
        if "region" not in s3 and (env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION")):
            s3["region"] = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION")
        if get("S3_USE_SSL"):
            s3["use_ssl"] = _truthy(get("S3_USE_SSL") or "")
        raw: dict[str, object] = {"mode": get("STORAGE") or "duckdb", "s3": s3}
        for name, key in (("LAKE_CATALOG", "catalog"), ("LAKE_DATA_PATH", "data_path"), ("LAKE_NAME", "lake_name"),
                          ("DUCKDB_EXTENSION_DIR", "extension_directory")):
            if get(name):
                raw[key] = get(name)
        if get("LAKE_INLINE_ROWS"):
            raw["inline_row_limit"] = get("LAKE_INLINE_ROWS")
        if get("LAKE_MIGRATE_ON_OPEN"):
            raw["migrate_on_open"] = _truthy(get("LAKE_MIGRATE_ON_OPEN") or "")
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            problems = "; ".join(_env_problem(issue, env) for issue in error.errors())
            raise StorageError(f"invalid storage configuration from APIGEN_* environment variables: {problems}") \
                from error


# The variable each settings field comes from, to name it in messages.
_FIELD_VARIABLES = {
    "mode": "STORAGE", "catalog": "LAKE_CATALOG", "data_path": "LAKE_DATA_PATH", "lake_name": "LAKE_NAME",
    "extension_directory": "DUCKDB_EXTENSION_DIR", "inline_row_limit": "LAKE_INLINE_ROWS",
    "s3.endpoint": "S3_ENDPOINT", "s3.region": "S3_REGION", "s3.url_style": "S3_URL_STYLE",
}


def _env_problem(issue: Mapping[str, object], env: Mapping[str, str]) -> str:
    """`APIGEN_STORAGE='lakehouse': Input should be 'duckdb' or 'ducklake'`; whole-settings problems
    are prefixed with the mode that raised them."""
    field_name = ".".join(str(part) for part in issue["loc"])  # type: ignore[attr-defined]
    message = str(issue["msg"]).removeprefix("Value error, ")
    variable = _FIELD_VARIABLES.get(field_name)
    if variable is None:
        return f"{ENV_PREFIX}STORAGE={env.get(ENV_PREFIX + 'STORAGE', 'duckdb')!r}: {message}"
    return f"{ENV_PREFIX}{variable}={env.get(ENV_PREFIX + variable, '')!r}: {message}"


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def mask_secrets(text: str) -> str:
    return _PASSWORD.sub(r"\1***", text)


@dataclass
class OpenTimings:
    """Where a DuckLake connection's start-up time goes (reported by the scale-out test)."""

    extension_load_s: float = 0.0
    attach_s: float = 0.0
    probe_s: float = 0.0


# -- extensions ---------------------------------------------------------------------------------

def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """LOAD an extension; on first use in this HOME, install it from its PyPI wheel (no network)."""
    try:
        con.execute(f"LOAD {name}")
        return
    except duckdb.Error:
        pass
    try:
        from duckdb_extensions import import_extension
    except ImportError as error:
        raise StorageError(
            f"DuckDB extension '{name}' is needed but the helper package is missing: install "
            f"duckdb-extensions=={duckdb.__version__} and duckdb-extension-{name}=={duckdb.__version__} "
            "(pip install 'apigen-pipeline[scaleout]')") from error
    try:
        import_extension(name, con=con)
        con.execute(f"LOAD {name}")
    except ModuleNotFoundError as error:
        raise StorageError(
            f"DuckDB extension '{name}' is not installed: install duckdb-extension-{name}=={duckdb.__version__} "
            "(pip install 'apigen-pipeline[scaleout]'); extensions are never downloaded at run time") from error
    except duckdb.Error as error:
        raise StorageError(f"DuckDB extension '{name}' could not be loaded: {error}") from error


# -- connections --------------------------------------------------------------------------------

def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _create_s3_secret(con: duckdb.DuckDBPyConnection, settings: StorageSettings) -> None:
    s3 = settings.s3
    options = ["TYPE s3", f"REGION {_quote(s3.region)}", f"USE_SSL {str(s3.use_ssl).lower()}"]
    credentials = settings.explicit_s3_credentials()
    if credentials:
        key_id, secret, token = credentials
        options += [f"KEY_ID {_quote(key_id)}", f"SECRET {_quote(secret)}"]
        if token:
            options.append(f"SESSION_TOKEN {_quote(token)}")
    else:
        options.append("PROVIDER credential_chain")
    if s3.endpoint:
        options.append(f"ENDPOINT {_quote(s3.endpoint)}")
    url_style = s3.url_style or ("path" if s3.endpoint else None)
    if url_style:
        options.append(f"URL_STYLE {_quote(url_style)}")
    try:
        con.execute(f"CREATE OR REPLACE SECRET apigen_lake_s3 ({', '.join(options)})")
    except duckdb.Error as error:
        raise StorageError(f"no usable S3 credentials for {settings.data_path}: set {s3.key_id_env} and "
                           f"{s3.secret_env} (from the platform's secret store) or give the process an AWS "
                           f"credential chain (instance profile, task role, ~/.aws): {error}") from error


def _probe_data_path(con: duckdb.DuckDBPyConnection, settings: StorageSettings) -> None:
    """A DuckLake ATTACH never touches the data path, so bad S3 credentials would only show at the
    first write, mid-run. A prefix listing needs the same rights and is cheap."""
    if not settings.on_s3:
        return
    probe = (settings.data_path or "").rstrip("/") + "/__apigen_probe__*"
    try:
        con.execute(f"SELECT count(*) FROM glob({_quote(probe)})").fetchall()
    except duckdb.Error as error:
        raise StorageError(
            f"S3 data path {settings.data_path} is not usable (check the credentials in "
            f"{settings.s3.key_id_env}/{settings.s3.secret_env} or the credential chain, the endpoint "
            f"{settings.s3.endpoint or 'AWS'} and the bucket): {error}") from error


def open_lake_connection(settings: StorageSettings, timings: OpenTimings | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection with the lake attached as the default catalog."""
    if not settings.is_lake:
        raise ValueError("open_lake_connection needs storage mode 'ducklake'")
    timings = timings if timings is not None else OpenTimings()
    con = duckdb.connect()
    try:
        started = time.perf_counter()
        con.execute("SET autoinstall_known_extensions = false")
        if settings.extension_directory:
            con.execute(f"SET extension_directory = {_quote(settings.extension_directory)}")
        for name in settings.required_extensions():
            load_extension(con, name)
        if settings.on_s3:
            _create_s3_secret(con, settings)
        timings.extension_load_s = time.perf_counter() - started

        started = time.perf_counter()
        _attach(con, settings)
        timings.attach_s = time.perf_counter() - started

        started = time.perf_counter()
        _probe_data_path(con, settings)
        timings.probe_s = time.perf_counter() - started
        return con
    except BaseException:
        con.close()
        raise


def _attach(con: duckdb.DuckDBPyConnection, settings: StorageSettings, lock_wait_s: float = 120.0) -> None:
    # Only the setup step may create a catalog: two workers' first ATTACH on an empty PostgreSQL
    # catalog race to create its tables and one fails with a duplicate key.
    create = "true" if settings.migrate_on_open else "false"
    statement = (f"ATTACH {_quote('ducklake:' + (settings.catalog or ''))} AS {settings.lake_name} "
                 f"(DATA_PATH {_quote(settings.data_path or '')}, CREATE_IF_NOT_EXISTS {create}, "
                 f"DATA_INLINING_ROW_LIMIT {int(settings.inline_row_limit)})")
    deadline = time.monotonic() + lock_wait_s
    delay = 0.05
    while True:
        try:
            con.execute(statement)
            break
        except duckdb.Error as error:
            message = str(error)
            # A DuckDB-file catalog admits one process at a time: wait for it, as the file mode does.
            if lock_conflict(error) is not None and settings.catalog_kind == "duckdb" and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if is_missing_ducklake(error):
                raise StorageError(f"the DuckLake catalog {mask_secrets(settings.catalog or '')} is not initialised: "
                                   "run the setup step once (`python -m apigen_pipeline.warehouse.lake_setup "
                                   "init`) before starting workers") from error
            raise StorageError(f"cannot attach the DuckLake catalog {mask_secrets(settings.catalog or '')} "
                               f"(unreachable or refused?): {mask_secrets(message)}") from error
    con.execute(f"USE {settings.lake_name}")


@dataclass
class _SharedLake:
    pid: int
    connection: duckdb.DuckDBPyConnection
    timings: OpenTimings
    lock: threading.RLock = field(default_factory=threading.RLock)


_SHARED: dict[tuple[str, str, str], _SharedLake] = {}
_SHARED_GUARD = threading.Lock()


def shared_lake(settings: StorageSettings) -> _SharedLake:
    """This process's one attached connection for these settings (opened on first use). A forked
    child (Celery's prefork pool) never reuses its parent's connection."""
    key = settings.identity()
    with _SHARED_GUARD:
        shared = _SHARED.get(key)
        if shared is not None and shared.pid == os.getpid():
            return shared
        timings = OpenTimings()
        connection = open_lake_connection(settings, timings)
        shared = _SharedLake(os.getpid(), connection, timings)
        _SHARED[key] = shared
        logger.info("attached %s in %.2fs (extensions %.2fs, attach %.2fs, probe %.2fs)", settings.describe(),
                    timings.extension_load_s + timings.attach_s + timings.probe_s, timings.extension_load_s,
                    timings.attach_s, timings.probe_s)
        return shared


def close_shared_lakes() -> None:
    """Detach every shared connection of this process (tests; a worker about to exit)."""
    with _SHARED_GUARD:
        for shared in _SHARED.values():
            if shared.pid == os.getpid():
                with shared.lock:
                    shared.connection.close()
        _SHARED.clear()


# -- conflicts ----------------------------------------------------------------------------------

def retry_on_conflict(work: Callable[[], T], *, attempts: int, backoff_s: float,
                      on_retry: Callable[[int, BaseException], None] | None = None) -> tuple[T, int]:
    """Run `work` (one whole transaction, rolled back on failure) until it commits; returns its result
    and the number of retries. DuckLake's own `ducklake_max_retry_count` does not cover a delete+insert
    that meets another writer's delete on the same table, so the application retries the transaction."""
    for attempt in range(attempts):
        try:
            return work(), attempt
        except Exception as error:
            if not is_ducklake_commit_conflict(error) or attempt == attempts - 1:
                raise
            if on_retry is not None:
                on_retry(attempt + 1, error)
            # Jitter, so two writers that just conflicted do not retry in lockstep and conflict again.
            time.sleep(backoff_s * (attempt + 1) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")
