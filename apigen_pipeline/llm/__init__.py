"""The LLM layer, arrows pointing down.

- Provider-neutral pieces, usable by every provider: `types`, `errors` (`ProviderError`), `messages`,
  `tokens` (estimates without a tokenizer), `tool_call_modes`, `structured`, `capabilities` (what an
  endpoint accepts), `secrets` (`SecretScrubber`), `sdk_common` (what both official SDKs share),
  `config` (settings, incl. `simulated_faults`), `pricing`, `limits`.
- `providers/`: one module per SDK (`openai_provider`, `anthropic_provider`) over the neutral pieces
  only, behind the `providers.base.Provider` protocol; no provider imports another.
- On top: `factory` (builds providers; any other backend, such as `apigen_pipeline.simulated`, is
  handed in as a `ProviderFactory`), `gateway` (cache, limits, retries, repair, cost), `client` (the
  protocol stages call), `request_log` (the durable cache in the warehouse).
"""
