-- Provider batch submissions as intents: a row is written (status 'submitting', with the request keys)
-- before the provider is asked to create the batch, and resolved once it is known whether it did:
-- 'submitted' (with the provider batch id, in the same transaction as the batch's `llm_batch_items`
-- rows) or 'not_submitted' (the provider provably holds no such batch: its requests may be submitted
-- again). A crash between the provider accepting a batch and the items being recorded leaves a
-- 'submitting' row; the next attempt looks the batch up at the provider and adopts it instead of
-- paying for the same requests twice (see `apigen_pipeline/llm/batch/runner.py`).
-- DuckLake-compatible on purpose: no primary/unique/foreign keys, indexes or sequences; the request
-- keys are a JSON array of strings.
CREATE TABLE IF NOT EXISTS llm_batch_submissions (
    submission_id VARCHAR NOT NULL,
    request_keys_json VARCHAR NOT NULL,
    provider VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    provider_batch_id VARCHAR,
    role VARCHAR,
    domain VARCHAR,
    batch VARCHAR,
    run_id VARCHAR,
    asset VARCHAR,
    created_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP
);
-- Which submission a batch item came from (NULL on items recorded before this migration).
ALTER TABLE llm_batch_items ADD COLUMN submission_id VARCHAR;
