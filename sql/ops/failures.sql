-- `apigen failures`: failed items from the generation_failures view (sql/views/), newest partition
-- first. Parameters: domain, batch, stage (NULL = any), then the row limit. `matching` counts every
-- row that matches, so the CLI can say how many it left out.
SELECT domain, batch, item_kind, item_id, attempt, outcome, failure_stage, failure_reason, run_id,
       count(*) OVER () AS matching
FROM generation_failures
WHERE domain = coalesce(?, domain)
  AND batch = coalesce(?, batch)
  AND failure_stage = coalesce(?, failure_stage)
ORDER BY batch DESC, domain, item_kind, failure_stage, failure_reason, item_id
LIMIT ?;
