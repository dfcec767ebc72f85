-- Record one submitted request of a provider batch: params request_key, custom_id, provider_batch_id,
-- provider, model, endpoint, role, domain, batch, run_id, asset, submitted_at, submission_id.
INSERT INTO llm_batch_items (request_key, custom_id, provider_batch_id, provider, model, endpoint, role, domain,
                             batch, run_id, asset, submitted_at, submission_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
