-- What the failure filters can match: the distinct domains, batches and stages with failures.
SELECT
    list(DISTINCT domain ORDER BY domain) AS domains,
    min(batch) AS first_batch,
    max(batch) AS last_batch,
    count(DISTINCT batch) AS batches,
    list(DISTINCT failure_stage ORDER BY failure_stage) AS stages
FROM generation_failures;
