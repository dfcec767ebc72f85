-- `apigen report` without --batch: the newest batch with a funnel (for one domain, or any).
SELECT max(batch) FROM generation_report WHERE domain = coalesce(?, domain);
