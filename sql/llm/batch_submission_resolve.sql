-- Resolve an intent: params status ('submitted' or 'not_submitted'), provider_batch_id (NULL when not
-- submitted), resolved_at, submission_id.
UPDATE llm_batch_submissions SET status = ?, provider_batch_id = ?, resolved_at = ?
WHERE submission_id = ? AND status = 'submitting';
