-- Phase 2: simulated human-agent trajectories, best-of-N user turns, verified trajectories, pass^k
-- evaluations and the generation funnel. DuckLake-compatible on purpose: no primary/unique/foreign keys,
-- indexes or sequences. Every table carries (domain, batch); a re-run replaces a partition in one
-- transaction. JSON is stored as VARCHAR.

CREATE TABLE IF NOT EXISTS trajectory_attempts (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    trajectory_id VARCHAR,
    blueprint_id VARCHAR,
    attempt_index INTEGER,
    end_reason VARCHAR,
    end_detail VARCHAR,
    verdict VARCHAR,
    failure_reason VARCHAR,
    kept BOOLEAN,
    drop_reason VARCHAR,
    duplicate_of VARCHAR,
    final_state_hash VARCHAR,
    expected_state_hash VARCHAR,
    diff VARCHAR,
    diff_text VARCHAR,
    missing_outputs VARCHAR,
    audit_findings VARCHAR,
    audit_clean BOOLEAN,
    protocol_violations VARCHAR,
    checks VARCHAR,
    messages VARCHAR,
    executed_calls VARCHAR,
    request_keys VARCHAR,
    user_turns INTEGER,
    agent_turns INTEGER,
    tool_calls INTEGER,
    turns INTEGER,
    canonical_hash VARCHAR
);

CREATE TABLE IF NOT EXISTS user_turn_candidates (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    trajectory_id VARCHAR,
    blueprint_id VARCHAR,
    attempt_index INTEGER,
    turn_index INTEGER,
    sample_index INTEGER,
    text VARCHAR,
    score INTEGER,
    reason VARCHAR,
    chosen BOOLEAN,
    failure VARCHAR,
    request_key VARCHAR,
    critic_request_key VARCHAR
);

CREATE TABLE IF NOT EXISTS trajectories (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    trajectory_id VARCHAR,
    blueprint_id VARCHAR,
    attempt_index INTEGER,
    canonical_hash VARCHAR,
    final_state_hash VARCHAR,
    audit_clean BOOLEAN,
    user_turns INTEGER,
    agent_turns INTEGER,
    tool_calls INTEGER,
    turns INTEGER,
    messages VARCHAR,
    attempt_json VARCHAR
);

CREATE TABLE IF NOT EXISTS passk_results (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    agent_label VARCHAR,
    k INTEGER,
    pass_hat_k DOUBLE,
    exact VARCHAR,
    tasks INTEGER,
    trials_per_task INTEGER
);

CREATE TABLE IF NOT EXISTS generation_report (
    domain VARCHAR NOT NULL,
    batch VARCHAR NOT NULL,
    run_id VARCHAR,
    config_hash VARCHAR,
    materialized_at TIMESTAMP,
    stage VARCHAR,
    stage_order INTEGER,
    count BIGINT,
    yield_from_previous DOUBLE,
    failures_by_reason VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cached_input_tokens BIGINT,
    cost_usd DOUBLE,
    projected_cost_usd DOUBLE,
    verified_trajectories INTEGER,
    tokens_per_verified_trajectory DOUBLE,
    cost_per_verified_trajectory DOUBLE,
    projected_cost_per_verified_trajectory DOUBLE
);
