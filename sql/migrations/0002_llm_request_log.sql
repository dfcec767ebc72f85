-- The LLM request log: the cache and the unit of resume. One row per finished request per run that
-- sent it (answered, failed or not_sent); an answered request_key is stored once and never re-sent.
-- DuckLake-compatible on purpose: no primary/unique/foreign keys, indexes or sequences.
-- Idempotent ingestion rests on entry_id (one per spooled result) and the answered anti-join.

CREATE TABLE IF NOT EXISTS llm_requests (
    entry_id VARCHAR NOT NULL,
    request_key VARCHAR NOT NULL,
    role VARCHAR,
    provider VARCHAR,
    model VARCHAR,
    projection_model VARCHAR,
    simulated BOOLEAN,
    request_json VARCHAR,
    response_json VARCHAR,
    status VARCHAR NOT NULL,
    error_kind VARCHAR,
    error_message VARCHAR,
    attempts INTEGER,
    repair_turns INTEGER,
    input_tokens BIGINT,
    cached_input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE,
    projected_cost_usd DOUBLE,
    latency_s DOUBLE,
    domain VARCHAR,
    batch VARCHAR,
    run_id VARCHAR,
    asset VARCHAR,
    prompt_version VARCHAR,
    settings_fingerprint VARCHAR,
    created_at TIMESTAMP
);
