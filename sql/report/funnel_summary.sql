-- One line per partition for the CLI: contexts in, blueprints kept, trajectories kept, cost (in total and per
-- verified trajectory). Only the
-- partitions the given runs materialized (a list of run ids), so an earlier run's funnel never shows
-- up as if it were this one's.
SELECT
    domain,
    batch,
    run_id,
    max(count) FILTER (WHERE stage = 'contexts') AS contexts,
    max(count) FILTER (WHERE stage = 'kept_blueprints') AS kept_blueprints,
    max(count) FILTER (WHERE stage = 'kept_trajectories') AS kept_trajectories,
    max(cost_usd) AS cost_usd,
    max(projected_cost_usd) AS projected_cost_usd,
    max(cost_per_verified_trajectory) AS cost_per_verified_trajectory,
    max(projected_cost_per_verified_trajectory) AS projected_cost_per_verified_trajectory
FROM generation_report
WHERE list_contains(?::VARCHAR[], run_id)
GROUP BY domain, batch, run_id
ORDER BY domain, batch;
