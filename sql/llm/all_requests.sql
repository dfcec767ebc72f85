-- Every logged row (tests and audits), in the order they were logged.
SELECT * FROM llm_requests ORDER BY created_at, entry_id;
