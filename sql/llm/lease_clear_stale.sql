-- Drop the claims of a scope that expired (before the given time) or whose holders are known dead
-- (a list of holder ids).
DELETE FROM llm_leases
WHERE scope = ? AND (expires_at <= ? OR holder IN (SELECT unnest(?::VARCHAR[])));
