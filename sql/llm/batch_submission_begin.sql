-- Write a provider batch submission's intent before the provider is asked: params submission_id,
-- request_keys_json, provider, model, endpoint, role, domain, batch, run_id, asset, created_at.
INSERT INTO llm_batch_submissions (submission_id, request_keys_json, provider, model, endpoint, status, role, domain,
                                   batch, run_id, asset, created_at)
VALUES (?, ?, ?, ?, ?, 'submitting', ?, ?, ?, ?, ?, ?);
