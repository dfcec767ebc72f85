-- Answered rows for a batch of request keys (one list parameter): the cache lookup.
SELECT request_key, provider, model, simulated, response_json, attempts, repair_turns,
       cost_usd, latency_s
FROM llm_requests
WHERE status = 'answered' AND request_key IN (SELECT unnest(?::VARCHAR[]));
