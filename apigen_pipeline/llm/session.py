"""A partition's LLM session: the gateway an asset step uses, under the partition lease, over the log.

The order is what makes concurrent runs of one partition safe: take the lease (waiting for another run
of the same partition and asset), open the request log (ingesting what a crashed holder left in its
spool), work, flush the log, and only then give the lease back, so whoever takes it next finds every
answer in the warehouse and sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from apigen_pipeline.llm.batch import BatchStore
from apigen_pipeline.llm.config import LLMSettings
from apigen_pipeline.llm.factory import ProviderFactory
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.lease import DEFAULT_TTL_S, PartitionLease, lease_scope
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.secrets import SecretScrubber
from apigen_pipeline.warehouse import Warehouse


@contextmanager
def partition_gateway(settings: LLMSettings, warehouse: Warehouse, context: CallContext, *,
                      spool_dir: str | Path | None = None, retry_failed: bool = False,
                      lease_ttl_s: float = DEFAULT_TTL_S,
                      provider_factories: Mapping[str, ProviderFactory] | None = None,
                      cache_identities: Mapping[str, str] | None = None) -> Iterator[LLMGateway]:
    lease = PartitionLease(warehouse, lease_scope(context.domain, context.batch, context.asset),
                           run_id=context.run_id, ttl_s=lease_ttl_s)
    with lease:
        log = RequestLog(warehouse, spool_dir=spool_dir, scrub=SecretScrubber.from_env(settings.api_key_env_names()))
        log.open()
        try:
            yield LLMGateway(settings, log, provider_factories=provider_factories, retry_failed=retry_failed,
                             cache_identities=cache_identities, batch_store=BatchStore(warehouse))
        finally:
            log.close()
