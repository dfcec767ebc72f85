-- Heartbeat: push a holder's claim expiry forward; params expires_at, scope, holder. Returns the rows
-- renewed (0: the claim is gone, it expired and was taken over).
UPDATE llm_leases SET expires_at = ? WHERE scope = ? AND holder = ?;
