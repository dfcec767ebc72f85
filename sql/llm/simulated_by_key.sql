-- Whether each of the given request keys (a VARCHAR list) was answered by the simulated backend, from
-- every logged entry of the key (a key re-asked on another backend would count as simulated if any was).
SELECT request_key, bool_or(coalesce(simulated, false)) AS simulated
FROM llm_requests
WHERE request_key IN (SELECT unnest(?::VARCHAR[]))
GROUP BY request_key;
