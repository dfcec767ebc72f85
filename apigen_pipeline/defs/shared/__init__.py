"""Helpers every area shares: resources, partitions, policies, frames, metadata, the LLM resource."""
