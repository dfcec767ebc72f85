-- Which of these provider batch ids (list parameter) already hold recorded items at one endpoint (param 2).
SELECT DISTINCT provider_batch_id FROM llm_batch_items
WHERE provider_batch_id IN (SELECT unnest(?::VARCHAR[])) AND endpoint = ?;
