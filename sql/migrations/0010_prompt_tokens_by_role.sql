-- Input tokens per request of each LLM role in a partition (`requests`, `p50`, `p95` as JSON by role),
-- from the request log: how lean each role's prompt is, next to the funnel it produced.
ALTER TABLE generation_report ADD COLUMN prompt_tokens_by_role VARCHAR;
