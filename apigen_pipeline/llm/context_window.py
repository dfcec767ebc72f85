"""How many tokens each model holds, and the check that keeps a request that cannot fit from being sent.

A model's context window comes from its config (`ModelRef.context_window`) or, for an OpenAI-compatible
server (a `base_url`), from the server itself, asked once per endpoint and model:

- vLLM: `GET <base_url>/models` lists each served model with `max_model_len`;
- llama.cpp: `GET <root>/props` has `default_generation_settings.n_ctx` (the root is the base URL
  without its `/v1`).

A server that answers neither (or a hosted API) leaves the window unknown, and nothing is checked.
A request whose estimated prompt plus its reply's `max_tokens` exceeds the window is refused before
sending (`ErrorKind.CONTEXT_TOO_LONG`, naming both numbers): a server would answer with an error
(vLLM: 400) or cut the prompt or the reply short (llama.cpp), which is worse.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.llm.sdk_common import tls_context
from apigen_pipeline.records import FrozenModel

logger = logging.getLogger(__name__)

# Asking for metadata is quick or hopeless: an endpoint that does not answer within this is left unknown.
DISCOVERY_TIMEOUT_S = 5.0


class ContextWindow(FrozenModel):
    tokens: int
    source: str  # where the number came from: "config", "/v1/models max_model_len", "/props n_ctx"


def _served_model(listing: Mapping[str, Any], model: str) -> Mapping[str, Any] | None:
    """The entry of `/models` for `model`, or the only entry when the server serves just one model."""
    entries = [entry for entry in listing.get("data") or [] if isinstance(entry, Mapping)]
    named = [entry for entry in entries if entry.get("id") == model]
    if named:
        return named[0]
    return entries[0] if len(entries) == 1 else None


def _get_json(client: httpx.Client, url: str) -> Mapping[str, Any] | None:
    """The JSON object at `url`, or None for any other answer (HTTP errors propagate)."""
    response = client.get(url)
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, Mapping) else None


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def discover_context_window(target: ModelRef) -> ContextWindow | None:
    """Ask an OpenAI-compatible server how many tokens `target` holds (vLLM, then llama.cpp); None if it does not say."""
    if target.base_url is None or target.provider != "openai":
        return None
    base = target.base_url.rstrip("/")
    key = os.environ.get(target.key_env or "") if target.key_env else None
    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        with httpx.Client(timeout=DISCOVERY_TIMEOUT_S, headers=headers, verify=tls_context()) as client:
            return _asked(client, base, target.model)
    except httpx.HTTPError:
        return None  # an endpoint that cannot be reached is named by the request itself, once it is sent


def _asked(client: httpx.Client, base: str, model: str) -> ContextWindow | None:
    listing = _get_json(client, f"{base}/models")
    entry = _served_model(listing, model) if listing is not None else None
    tokens = _positive_int(entry.get("max_model_len")) if entry is not None else None
    if tokens is not None:
        return ContextWindow(tokens=tokens, source="/v1/models max_model_len")
    props = _get_json(client, f"{base.removesuffix('/v1')}/props")
    settings = props.get("default_generation_settings") if props is not None else None
    tokens = _positive_int(settings.get("n_ctx")) if isinstance(settings, Mapping) else None
    if tokens is not None:
        return ContextWindow(tokens=tokens, source="/props n_ctx")
    return None


class ContextWindows:
    """Each target's window, from its config or asked of its server once; thread-safe."""

    def __init__(self, discover: Callable[[ModelRef], ContextWindow | None] = discover_context_window):
        self._discover = discover
        self._known: dict[tuple[str, str | None, str], ContextWindow | None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _place(target: ModelRef) -> tuple[str, str | None, str]:
        return target.provider, target.base_url, target.model

    def cached(self, target: ModelRef) -> tuple[bool, ContextWindow | None]:
        """(known, window) without asking anyone: known is False only while a server is still to be asked."""
        if target.context_window is not None:
            return True, ContextWindow(tokens=target.context_window, source="config")
        if target.base_url is None or target.provider != "openai":  # only OpenAI-compatible servers say
            return True, None
        # Without the lock: `window` holds it while a server is asked, and this runs on the event loop,
        # which must not stall behind that question. Entries are added whole and never removed.
        place = self._place(target)
        known = place in self._known
        return known, self._known.get(place) if known else None

    def window(self, target: ModelRef) -> ContextWindow | None:
        """The window of `target`, asking its server the first time (blocking: call off the event loop)."""
        known, window = self.cached(target)
        if known:
            return window
        with self._lock:  # one question per endpoint and model, however many requests wait for it
            place = self._place(target)
            if place not in self._known:
                self._known[place] = self._discover(target)
                found = self._known[place]
                logger.info("context window of %s at %s: %s", target.label, target.base_url,
                            f"{found.tokens} tokens ({found.source})" if found else "not reported (not checked)")
            return self._known[place]


def overflow(target: ModelRef, window: ContextWindow | None, prompt_tokens: int, reply_tokens: int) -> str | None:
    """Why a request of `prompt_tokens` (estimated) with room for `reply_tokens` cannot be sent, or None if it fits."""
    if window is None or prompt_tokens + reply_tokens <= window.tokens:
        return None
    return (f"prompt of about {prompt_tokens} tokens + {reply_tokens} reply tokens (max_tokens) does not fit the "
            f"context window of {window.tokens} tokens of {target.label} ({window.source}); not sent")


def prompt_room(window: ContextWindow | None, reply_tokens: int) -> int | None:
    """How many prompt tokens fit beside a reply of `reply_tokens`, or None when the window is unknown."""
    return None if window is None else window.tokens - reply_tokens
