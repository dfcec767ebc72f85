"""What each endpoint turned out to accept, learned once per endpoint and shared by the providers built for it.

OpenAI-compatible servers differ: llama.cpp's Python server rejects `response_format: json_schema`
but takes `json_object` with a schema. The first structured request to an endpoint in `auto` mode
finds out which mode works; every later request (any role, any model at that endpoint) uses it.
The gateway owns one `EndpointCapabilities` and hands it to every provider it builds, so nothing
about endpoints is kept process-wide.
"""

from __future__ import annotations

import threading
from typing import Literal

StructuredMode = Literal["auto", "json_schema", "json_object", "prompt"]
DetectedStructuredMode = Literal["json_schema", "json_object", "prompt"]


class EndpointCapabilities:
    """Endpoint -> the structured-output mode it accepts. Thread-safe (providers may live on several loops)."""

    def __init__(self) -> None:
        self._structured_modes: dict[str, DetectedStructuredMode] = {}
        self._lock = threading.Lock()

    def structured_mode(self, endpoint: str) -> DetectedStructuredMode | None:
        with self._lock:
            return self._structured_modes.get(endpoint)

    def remember_structured_mode(self, endpoint: str, mode: DetectedStructuredMode) -> bool:
        """Record what `endpoint` accepts; True when that is news (first detection or a change)."""
        with self._lock:
            changed = self._structured_modes.get(endpoint) != mode
            self._structured_modes[endpoint] = mode
            return changed
