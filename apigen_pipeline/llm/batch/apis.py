"""The batch API of a model's provider (the SDK is imported only when that provider is used)."""

from __future__ import annotations

from apigen_pipeline.llm.batch.api import BatchAPI
from apigen_pipeline.llm.capabilities import EndpointCapabilities
from apigen_pipeline.llm.config import ModelRef


def batch_api_for(target: ModelRef, capabilities: EndpointCapabilities) -> BatchAPI:
    if target.provider == "openai":
        from apigen_pipeline.llm.batch.openai_batch import OpenAIBatchAPI

        return OpenAIBatchAPI(target, capabilities)
    if target.provider == "anthropic":
        from apigen_pipeline.llm.batch.anthropic_batch import AnthropicBatchAPI

        return AnthropicBatchAPI(target)
    raise ValueError(f"provider '{target.provider}' has no batch API")
