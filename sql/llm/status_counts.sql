-- Rows and distinct request keys per status.
SELECT status, count(*) AS row_count, count(DISTINCT request_key) AS key_count
FROM llm_requests
GROUP BY status
ORDER BY status;
