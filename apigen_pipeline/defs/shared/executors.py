"""Which executor runs a run's steps, chosen by `APIGEN_EXECUTOR` (never by code changes):

- `in_process` (default): every step in the run's own process. A partition's stages form a chain,
  DuckDB has one writer and LLM parallelism lives inside a step (the gateway), so a process per step
  would only add seconds of start-up to every step of every UI-launched run.
- `multiprocess`: one process per step on this machine.
- `celery`: steps become Celery tasks on any machine's `dagster-celery worker`; broker and result
  backend come from `APIGEN_CELERY_BROKER` / `APIGEN_CELERY_BACKEND` (env sources, so a password in a
  Redis URL is read at run time from the secret store's environment, never stored).
- `ecs`: one ECS task per step (needs `EcsRunLauncher` in dagster.yaml).
- `k8s`: one Kubernetes Job per step (needs `K8sRunLauncher` in dagster.yaml).

The storage (DuckLake on PostgreSQL + S3, Dagster instance in PostgreSQL) is the same for the last
three; see `deploy/README.md`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

EXECUTOR_ENV = "APIGEN_EXECUTOR"
EXECUTORS = ("multiprocess", "in_process", "celery", "ecs", "k8s")
CELERY_BROKER_ENV = "APIGEN_CELERY_BROKER"
CELERY_BACKEND_ENV = "APIGEN_CELERY_BACKEND"
MAX_CONCURRENT_ENV = "APIGEN_MAX_CONCURRENT_STEPS"
# Celery app settings; deploy/celery/celery.yaml gives the workers the same ones.
# Workers take one task at a time: a prefetched step would wait behind a long LLM step.
CELERY_CONFIG_SOURCE = {"worker_prefetch_multiplier": 1, "task_default_queue": "dagster"}


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor for `dg.Definitions(executor=...)`."""
    env = os.environ if env is None else env
    kind = (env.get(EXECUTOR_ENV) or "in_process").strip().lower()
    max_concurrent = _max_concurrent(env)
    if kind == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": max_concurrent} if max_concurrent else {})
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "celery":
        return celery_executor_from_env(env)
    if kind == "ecs":
        from dagster_aws.ecs import ecs_executor

        return ecs_executor.configured({"max_concurrent": max_concurrent} if max_concurrent else {})
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured({"max_concurrent": max_concurrent} if max_concurrent else {})
    raise dg.DagsterInvalidConfigError(
        f"{EXECUTOR_ENV}={kind!r} is not an executor; use one of {', '.join(EXECUTORS)}", [], kind)


def celery_executor_from_env(env: Mapping[str, str]) -> dg.ExecutorDefinition:
    missing = [name for name in (CELERY_BROKER_ENV, CELERY_BACKEND_ENV) if not env.get(name)]
    if missing:
        raise dg.DagsterInvalidConfigError(
            f"{EXECUTOR_ENV}=celery needs {' and '.join(missing)} (e.g. redis://host:6379/0 and /1)", [], missing)
    try:
        from dagster_celery import celery_executor
    except ImportError as error:
        raise dg.DagsterInvalidConfigError(
            f"{EXECUTOR_ENV}=celery needs dagster-celery: pip install 'apigen-pipeline[scaleout]'", [], None) \
            from error
    return celery_executor.configured({
        "broker": {"env": CELERY_BROKER_ENV},
        "backend": {"env": CELERY_BACKEND_ENV},
        "config_source": dict(CELERY_CONFIG_SOURCE),
    })


def _max_concurrent(env: Mapping[str, str]) -> int | None:
    raw = (env.get(MAX_CONCURRENT_ENV) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise dg.DagsterInvalidConfigError(f"{MAX_CONCURRENT_ENV} must be a positive integer, not {raw!r}", [], raw)
    return int(raw)
