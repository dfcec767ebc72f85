-- Accepted blueprints that survived deduplication.
SELECT blueprint_id, kind, actions, state_hash
FROM blueprints
WHERE domain = ? AND batch = ? AND duplicate_of IS NULL
ORDER BY blueprint_id;
