-- Input tokens per request of each role in a partition's generation (every request sent whose prompt the
-- provider counted, answered or failed): how many, the median and the 95th percentile. A request that
-- reported no input tokens measured no prompt (a provider batch's failed item, answered live afterwards
-- under the same key; a request that never got an answer): counted, it would add a request of 0 tokens.
-- The pass^k evaluation is left out: it measures an agent, it does not make the data (and the dataset card,
-- written before or after it, then says the same on every materialization).
SELECT
    role,
    count(*) AS requests,
    quantile_cont(input_tokens, 0.5) AS p50,
    quantile_cont(input_tokens, 0.95) AS p95
FROM llm_requests
WHERE domain = ? AND batch = ? AND input_tokens > 0 AND asset <> 'passk_evaluation'
GROUP BY role
ORDER BY role;
