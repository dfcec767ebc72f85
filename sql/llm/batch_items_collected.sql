-- Mark a provider batch's results as read into the request log: params collected_at, provider_batch_id.
UPDATE llm_batch_items SET collected_at = ? WHERE provider_batch_id = ? AND collected_at IS NULL;
