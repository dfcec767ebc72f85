-- Ingest spooled results registered as `incoming_llm_requests`. Idempotent: an entry already stored is
-- skipped, so re-ingesting a spool after a crash between commit and spool deletion never duplicates a row.
-- A request key's answer (valid or invalid) is stored once: the first answer wins. The only later answer
-- stored for a key is an explicit re-ask of a stored invalid answer, which names that answer in
-- `supersedes` (again first wins per superseded answer).
INSERT INTO llm_requests BY NAME
SELECT * EXCLUDE (answer_rank)
FROM (
    SELECT incoming.*,
           row_number() OVER (PARTITION BY incoming.request_key, incoming.status = 'answered', incoming.supersedes
                              ORDER BY incoming.created_at, incoming.entry_id) AS answer_rank
    FROM incoming_llm_requests AS incoming
) AS incoming
WHERE NOT EXISTS (SELECT 1 FROM llm_requests AS stored WHERE stored.entry_id = incoming.entry_id)
  AND NOT (
      incoming.status = 'answered'
      AND (incoming.answer_rank > 1
           OR EXISTS (SELECT 1 FROM llm_requests AS stored
                      WHERE stored.request_key = incoming.request_key AND stored.status = 'answered'
                        AND stored.supersedes IS NOT DISTINCT FROM incoming.supersedes))
  );
