-- Prompt caching and batch APIs, per request. `cached_input_tokens` (0002) are the prompt tokens read from the
-- provider's prompt cache; `cache_write_input_tokens` the ones written to it (Anthropic's
-- cache_creation_input_tokens, billed above the input price); both are part of `input_tokens`.
-- `via_batch`: the request went through the provider's batch API and is priced with the batch discount.
-- NULL on rows logged before this migration: no cache writes were recorded, nothing went through a batch.
ALTER TABLE llm_requests ADD COLUMN cache_write_input_tokens BIGINT;
ALTER TABLE llm_requests ADD COLUMN via_batch BOOLEAN;
