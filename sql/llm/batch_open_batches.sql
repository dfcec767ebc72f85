-- Every provider batch that still holds items not read into the request log, with the partition
-- (domain, batch) they belong to: what the ended-batches sensor polls.
SELECT provider, model, endpoint, provider_batch_id, domain, batch, count(*) AS items
FROM llm_batch_items
WHERE collected_at IS NULL AND domain IS NOT NULL AND batch IS NOT NULL
GROUP BY provider, model, endpoint, provider_batch_id, domain, batch
ORDER BY domain, batch, provider_batch_id;
