-- Foundation tables: environment specs and sampled task contexts.
-- DuckLake-compatible on purpose: no primary/unique/foreign keys, indexes or sequences.
-- Every partitioned table carries (domain, batch); a re-run replaces a partition in one transaction.

CREATE TABLE IF NOT EXISTS environment_tools (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    position INTEGER,
    tool_name VARCHAR,
    kind VARCHAR,
    description VARCHAR,
    parameters VARCHAR,
    returns VARCHAR,
    utterance VARCHAR
);

CREATE TABLE IF NOT EXISTS environment_policies (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    policy_text VARCHAR,
    sections VARCHAR,
    policy_checks VARCHAR
);

CREATE TABLE IF NOT EXISTS environment_graph_edges (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    source_tool VARCHAR,
    target_tool VARCHAR,
    via_fields VARCHAR
);

CREATE TABLE IF NOT EXISTS environment_fingerprints (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    plugin_source VARCHAR,
    seed BIGINT,
    scale DOUBLE,
    state_hash VARCHAR,
    table_counts VARCHAR,
    tool_count INTEGER,
    write_tool_count INTEGER
);

CREATE TABLE IF NOT EXISTS task_contexts (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    context_id VARCHAR,
    context_index INTEGER,
    seed BIGINT,
    user_id VARCHAR,
    persona_id VARCHAR,
    write_tools VARCHAR,
    read_tools VARCHAR,
    context VARCHAR
);
