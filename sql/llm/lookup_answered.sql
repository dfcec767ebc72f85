-- The stored final answer of each of a batch of request keys (one list parameter): the cache lookup.
-- Valid or invalid, an answer is final; a re-ask that superseded an invalid answer replaces it.
WITH answers AS (
    SELECT * FROM llm_requests
    WHERE status = 'answered' AND request_key IN (SELECT unnest(?::VARCHAR[]))
)
SELECT request_key, entry_id, provider, model, simulated, response_json, validation, error_message,
       attempts, repair_turns, cost_usd, latency_s
FROM answers
WHERE entry_id NOT IN (SELECT supersedes FROM answers WHERE supersedes IS NOT NULL)
QUALIFY row_number() OVER (PARTITION BY request_key ORDER BY created_at DESC, entry_id DESC) = 1;
