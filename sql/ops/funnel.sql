-- `apigen report`: the funnel rows of one batch's partitions (domain NULL = every domain).
-- Parameters: domain, batch.
SELECT domain, batch, run_id, materialized_at, stage, stage_order, count, yield_from_previous,
       cost_usd, projected_cost_usd, verified_trajectories, cost_per_verified_trajectory,
       projected_cost_per_verified_trajectory
FROM generation_report
WHERE domain = coalesce(?, domain) AND batch = ?
ORDER BY domain, stage_order;
