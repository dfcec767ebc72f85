-- The provider batches still holding results for these request keys (list parameter), at one provider,
-- model and endpoint (params 2-4): submitted and not yet collected. The newest submission per key wins.
SELECT request_key, custom_id, provider_batch_id
FROM llm_batch_items
WHERE request_key IN (SELECT unnest(?::VARCHAR[])) AND provider = ? AND model = ? AND endpoint = ?
  AND collected_at IS NULL
QUALIFY row_number() OVER (PARTITION BY request_key ORDER BY submitted_at DESC) = 1;
