-- Ingest spooled results registered as `incoming_llm_requests`. Idempotent: an entry already stored
-- is skipped, and an answered request_key is stored once (first answer wins), so re-ingesting a spool
-- after a crash between commit and spool deletion never duplicates a row.
INSERT INTO llm_requests BY NAME
SELECT * EXCLUDE (answer_rank)
FROM (
    SELECT incoming.*,
           row_number() OVER (PARTITION BY incoming.request_key, incoming.status = 'answered'
                              ORDER BY incoming.created_at, incoming.entry_id) AS answer_rank
    FROM incoming_llm_requests AS incoming
) AS incoming
WHERE NOT EXISTS (SELECT 1 FROM llm_requests AS stored WHERE stored.entry_id = incoming.entry_id)
  AND NOT (
      incoming.status = 'answered'
      AND (incoming.answer_rank > 1
           OR EXISTS (SELECT 1 FROM llm_requests AS stored
                      WHERE stored.request_key = incoming.request_key AND stored.status = 'answered'))
  );
