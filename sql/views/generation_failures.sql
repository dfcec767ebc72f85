-- generation_failures: one row per failed item of the generation stages, with the stage that
-- rejected it and why. The Dagster UI shows its counts per partition; this view is what to query,
-- export or chart across partitions. Nothing is stored twice: it reads the stage tables.
--   blueprint attempts: every round that was not accepted. `revised` = a later round retried it,
--     `rejected` = the feedback loop gave up (failure_stage: generation, format, execution, policy,
--     committee or acceptance; failure_reason from the failing stage).
--   trajectory attempts: every attempt that failed verification (`failed`, stage `verification`,
--     failure_reason from the verifier) or was verified but not kept (`dropped`, stage `selection`,
--     reason from drop_reason: policy_violation, duplicate).
CREATE OR REPLACE VIEW generation_failures AS
SELECT
    domain,
    batch,
    run_id,
    config_hash,
    materialized_at,
    'blueprint' AS item_kind,
    attempt_id AS item_id,
    context_id AS source_id,
    "round" AS attempt,
    kind AS variant,
    coalesce(status, 'unknown') AS outcome,
    coalesce(failure_stage, 'unknown') AS failure_stage,
    coalesce(failure_reason, 'unknown') AS failure_reason
FROM blueprint_attempts
WHERE status IS DISTINCT FROM 'accepted'
UNION ALL
SELECT
    domain,
    batch,
    run_id,
    config_hash,
    materialized_at,
    'trajectory' AS item_kind,
    trajectory_id AS item_id,
    blueprint_id AS source_id,
    attempt_index AS attempt,
    end_reason AS variant,
    CASE WHEN verdict IS DISTINCT FROM 'verified' THEN 'failed' ELSE 'dropped' END AS outcome,
    CASE WHEN verdict IS DISTINCT FROM 'verified' THEN 'verification' ELSE 'selection' END AS failure_stage,
    coalesce(CASE WHEN verdict IS DISTINCT FROM 'verified' THEN failure_reason ELSE drop_reason END,
             'unknown') AS failure_reason
FROM trajectory_attempts
WHERE verdict IS DISTINCT FROM 'verified' OR NOT coalesce(kept, false);
