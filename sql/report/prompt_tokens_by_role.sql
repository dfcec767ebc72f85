-- Input tokens per request of each role in a partition's generation (every request sent, answered or
-- failed; a request not sent never reached a model): how many, the median and the 95th percentile. The
-- pass^k evaluation is left out: it measures an agent, it does not make the data (and the dataset card,
-- written before or after it, then says the same on every materialization).
SELECT
    role,
    count(*) AS requests,
    quantile_cont(input_tokens, 0.5) AS p50,
    quantile_cont(input_tokens, 0.95) AS p95
FROM llm_requests
WHERE domain = ? AND batch = ? AND status <> 'not_sent' AND asset <> 'passk_evaluation'
GROUP BY role
ORDER BY role;
