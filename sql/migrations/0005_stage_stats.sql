-- Each LLM stage's summary statistics per partition, so the generation report can be rebuilt from
-- the warehouse alone. DuckLake-compatible: no keys, indexes or sequences.
CREATE TABLE IF NOT EXISTS stage_stats (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    stage VARCHAR,
    stats VARCHAR
);
