-- Provider batch APIs (OpenAI Batch, Anthropic Message Batches): which provider batch each request was
-- submitted in, so a crashed or re-run step polls the batch it already submitted instead of sending the
-- request again. One row per submitted request; `collected_at` is set once the batch's results were read
-- into the request log (answers as `answered` rows with `via_batch`, from 0007; failed items back to the
-- live path).
-- DuckLake-compatible on purpose: no primary/unique/foreign keys, indexes or sequences.
CREATE TABLE IF NOT EXISTS llm_batch_items (
    request_key VARCHAR NOT NULL,
    custom_id VARCHAR NOT NULL,
    provider_batch_id VARCHAR NOT NULL,
    provider VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL,
    role VARCHAR,
    domain VARCHAR,
    batch VARCHAR,
    run_id VARCHAR,
    asset VARCHAR,
    submitted_at TIMESTAMP NOT NULL,
    collected_at TIMESTAMP
);

