-- Accepted, deduplicated blueprints with everything Phase 2 needs to play them out.
SELECT *
FROM blueprints
WHERE domain = ? AND batch = ? AND duplicate_of IS NULL
ORDER BY blueprint_id;
