-- Provenance on every blueprint and trajectory row: 'true' (every LLM request behind it answered by the
-- simulated backend), 'false' (none), 'mixed'; NULL on rows written before this migration (unknown,
-- treated as not fit for training). Derived from the request log, never from the current config.
ALTER TABLE blueprints ADD COLUMN simulated VARCHAR;
ALTER TABLE trajectories ADD COLUMN simulated VARCHAR;
