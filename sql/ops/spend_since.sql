-- `apigen status`: what the LLM requests sent since a moment cost (UTC timestamps): the request log
-- plus the rows still waiting in this machine's spools (registered as `spooled_requests`, columns
-- entry_id, status, cost_usd, projected_cost_usd, created_at), each entry counted once.
-- Parameters: since, since.
WITH sent AS (
    SELECT cost_usd, projected_cost_usd, false AS spooled
    FROM llm_requests
    WHERE created_at >= ? AND status <> 'not_sent'
    UNION ALL
    SELECT cost_usd, projected_cost_usd, true AS spooled
    FROM spooled_requests AS spooled
    WHERE created_at >= ? AND status <> 'not_sent'
      AND NOT EXISTS (SELECT 1 FROM llm_requests AS stored WHERE stored.entry_id = spooled.entry_id)
)
SELECT count(*) AS requests,
       count(*) FILTER (WHERE spooled) AS spooled,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       coalesce(sum(projected_cost_usd), 0) AS projected_cost_usd
FROM sent;
