-- `apigen failures --counts`: failed items per partition, stage and reason, most frequent first.
-- Parameters: domain, batch, stage (NULL = any).
SELECT domain, batch, item_kind, failure_stage, failure_reason, count(*) AS failures
FROM generation_failures
WHERE domain = coalesce(?, domain)
  AND batch = coalesce(?, batch)
  AND failure_stage = coalesce(?, failure_stage)
GROUP BY ALL
ORDER BY batch DESC, domain, failures DESC, item_kind, failure_stage, failure_reason;
