-- What a partition's LLM work cost: every request actually sent, in any run (cache hits are free).
SELECT
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    coalesce(sum(cached_input_tokens), 0) AS cached_input_tokens,
    coalesce(sum(cache_write_input_tokens), 0) AS cache_write_input_tokens,
    coalesce(sum(cost_usd), 0) AS cost_usd,
    coalesce(sum(projected_cost_usd), 0) AS projected_cost_usd
FROM llm_requests
WHERE domain = ? AND batch = ? AND status <> 'not_sent';
