-- Claim a lease scope: params scope, holder, run_id, acquired_at, expires_at. Run after
-- lease_clear_stale in the same transaction; whether the claim won is decided by reading back.
INSERT INTO llm_leases (scope, holder, run_id, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?);
