-- One line per partition for the CLI: contexts in, blueprints kept, trajectories kept, projected cost.
SELECT
    domain,
    batch,
    max(count) FILTER (WHERE stage = 'contexts') AS contexts,
    max(count) FILTER (WHERE stage = 'kept_blueprints') AS kept_blueprints,
    max(count) FILTER (WHERE stage = 'kept_trajectories') AS kept_trajectories,
    max(cost_usd) AS cost_usd,
    max(projected_cost_usd) AS projected_cost_usd
FROM generation_report
WHERE batch = ?
GROUP BY domain, batch
ORDER BY domain;
