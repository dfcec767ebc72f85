-- Every claim on one lease scope (live or expired): holder, its run and when the claim expires.
SELECT holder, run_id, expires_at FROM llm_leases WHERE scope = ? ORDER BY acquired_at, holder;
