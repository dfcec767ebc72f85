"""Provider batch APIs (OpenAI Batch, Anthropic Message Batches) for the roles no live turn waits on.

A role configured `batch: true` has its requests that the request log cannot answer submitted as one
provider batch per call and model (after the live path's context-window and budget checks); an intent
is written to `llm_batch_submissions` before the provider is asked, and the batch id and each request's
custom id (its request key) to `llm_batch_items` once it accepted, so a crashed or re-run step polls (or
finds at the provider and adopts) the batch it already submitted and never pays for a request twice. A step waits at most `batch_max_wait_s` for its batches,
then fails with `BatchPendingError`, which the shell retries (the retry polls the same batches).
The answers are logged like live ones (`via_batch` set); an item the provider failed, expired or
answered invalidly goes back to the gateway's live path with its normal retries and repairs.
"""

from apigen_pipeline.llm.batch.runner import BatchPendingError, BatchRunner
from apigen_pipeline.llm.batch.store import BatchStore

__all__ = ["BatchPendingError", "BatchRunner", "BatchStore"]
