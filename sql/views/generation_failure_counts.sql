-- Failures of one (domain, batch) partition by item kind, stage and reason, most frequent first:
-- the Markdown table and numeric metadata a `generation_failures` asset attaches to its materialization.
SELECT item_kind, failure_stage, failure_reason, outcome, count(*) AS failures
FROM generation_failures
WHERE domain = ? AND batch = ?
GROUP BY ALL
ORDER BY failures DESC, item_kind, failure_stage, failure_reason, outcome;
