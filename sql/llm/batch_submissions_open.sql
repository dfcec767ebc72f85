-- The intents not yet resolved at one provider, model and endpoint (params 1-3): the provider may or may
-- not hold their batch. Oldest first.
SELECT submission_id, request_keys_json, role, domain, batch, run_id, asset, created_at
FROM llm_batch_submissions
WHERE provider = ? AND model = ? AND endpoint = ? AND status = 'submitting'
ORDER BY created_at, submission_id;
