-- An answer is an answer: a reply the provider returned (HTTP 200) is stored as `answered` with its
-- validation outcome, so a re-run replays a reply that failed validation (after its repair turns) instead
-- of paying for it again. `validation`: 'valid' or 'invalid' on answered rows (NULL on rows logged before
-- this migration: they were all valid); `repair_json`: the rejected replies before the final one and why
-- each was rejected; `supersedes`: the entry_id of the invalid answer an explicit re-ask
-- (`apigen run --retry-failed`) replaced.
ALTER TABLE llm_requests ADD COLUMN validation VARCHAR;
ALTER TABLE llm_requests ADD COLUMN repair_json VARCHAR;
ALTER TABLE llm_requests ADD COLUMN supersedes VARCHAR;

-- One holder at a time per (partition, asset) for the LLM work of a step, across processes and machines
-- (see apigen_pipeline/llm/lease.py). A holder renews `expires_at` while it works; a crashed holder's row
-- simply expires. DuckLake-compatible: no keys or constraints; exclusivity comes from the protocol.
CREATE TABLE IF NOT EXISTS llm_leases (
    scope VARCHAR NOT NULL,
    holder VARCHAR NOT NULL,
    run_id VARCHAR,
    acquired_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
