-- What `apigen report` can show: the domains and batches that have a funnel.
SELECT list(DISTINCT domain ORDER BY domain) AS domains, count(DISTINCT batch) AS batches,
       min(batch) AS first_batch, max(batch) AS last_batch
FROM generation_report;
