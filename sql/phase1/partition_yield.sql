-- Share of a partition's contexts that ended with an accepted simple blueprint.
SELECT
    count(DISTINCT context_id) FILTER (WHERE status = 'accepted') AS accepted_contexts,
    count(DISTINCT context_id) AS contexts
FROM blueprint_attempts
WHERE domain = ? AND batch = ? AND kind = 'simple';
