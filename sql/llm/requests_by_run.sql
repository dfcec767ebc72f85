-- Every logged row of one run, in the order they were logged.
SELECT * FROM llm_requests WHERE run_id = ? ORDER BY created_at, entry_id;
