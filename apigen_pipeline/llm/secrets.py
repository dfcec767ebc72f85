"""One scrubber for secrets (API keys) in any text bound for an exception, a log line or the request log."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"
# Shorter values of key variables would scrub ordinary words out of messages.
MIN_SECRET_LENGTH = 8


class SecretScrubber:
    """Replaces each known secret value wherever it appears (longest first, so no fragment survives)."""

    def __init__(self, secrets: Iterable[str | None], *, min_length: int = MIN_SECRET_LENGTH):
        self._secrets = sorted({s for s in secrets if s and len(s) >= min_length}, key=len, reverse=True)

    @classmethod
    def from_env(cls, variable_names: Iterable[str], env: Mapping[str, str] | None = None) -> SecretScrubber:
        """The values of the named environment variables (defence in depth: any of them may hold a key)."""
        env = os.environ if env is None else env
        return cls(env.get(name, "") for name in variable_names)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text
