-- Give a lease scope back: params scope, holder.
DELETE FROM llm_leases WHERE scope = ? AND holder = ?;
