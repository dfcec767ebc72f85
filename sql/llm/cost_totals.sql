-- Tokens and cost per asset, partition and run (and per model), for reports.
SELECT asset, domain, batch, run_id, role, provider, model, projection_model,
       count(*) FILTER (WHERE status = 'answered') AS answered,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'not_sent') AS not_sent,
       sum(input_tokens) AS input_tokens,
       sum(cached_input_tokens) AS cached_input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(cost_usd) AS cost_usd,
       sum(projected_cost_usd) AS projected_cost_usd
FROM llm_requests
GROUP BY ALL
ORDER BY ALL;
