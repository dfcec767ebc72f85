"""LLM settings: which model plays each role, prices, limits, retries, budget and early stop.

Keys are never part of the settings: a `ModelRef` only names the environment variable that holds
one (`api_key_env`), so settings can be hashed, logged and stored without leaking anything.

Backend selection (`backend_override`, from the `APIGEN_LLM` environment variable):
- unset or "simulated": every role and judge goes to the offline simulated backend; the configured
  models stay as *projection targets*, so a simulated run reports what it would cost on them;
- "provider:model": every role and judge goes to that one model (at `APIGEN_LLM_BASE_URL` if set, with
  `APIGEN_LLM_TIMEOUT` seconds per request and at most `APIGEN_LLM_CONCURRENCY` requests at once if set:
  a local CPU model needs minutes per call and one request at a time);
- "configured": every role goes to its own configured model (real spending).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from apigen_pipeline.llm.simulated_faults import FaultRates
from apigen_pipeline.llm.types import Role
from apigen_pipeline.records import FrozenModel

ProviderName = Literal["openai", "anthropic", "simulated"]
BACKEND_ENV_VAR = "APIGEN_LLM"
BASE_URL_ENV_VAR = "APIGEN_LLM_BASE_URL"
TIMEOUT_ENV_VAR = "APIGEN_LLM_TIMEOUT"
CONCURRENCY_ENV_VAR = "APIGEN_LLM_CONCURRENCY"
# Environment variables that overlay the LLM settings, and the field each one sets.
ENV_SETTINGS: tuple[tuple[str, str], ...] = (
    (BACKEND_ENV_VAR, "backend_override"), (BASE_URL_ENV_VAR, "backend_base_url"),
    (TIMEOUT_ENV_VAR, "backend_timeout_s"), (CONCURRENCY_ENV_VAR, "max_concurrency"))
USE_CONFIGURED_MODELS = "configured"
DEFAULT_KEY_ENV: dict[str, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
BATCH_PROVIDERS = ("openai", "anthropic")  # the providers with a batch API; simulated answers live


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the offending field."""


class ModelRef(FrozenModel):
    """One model at one endpoint. Also parses from "provider:model" (or just "simulated")."""

    provider: ProviderName
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    tool_call_mode: Literal["native", "json"] = "native"
    structured_mode: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"
    timeout_s: float = Field(default=60.0, gt=0)
    # Tokens the model holds (prompt + reply). None: asked of the server (vLLM's /v1/models max_model_len,
    # llama.cpp's /props n_ctx) where it is an OpenAI-compatible one, else not checked before sending.
    context_window: int | None = Field(default=None, gt=0)
    # Send this role's requests through the provider's batch API (OpenAI Batch, Anthropic Message
    # Batches): cheaper, answered within hours. Only for roles outside a live conversation (`BATCHABLE_ROLES`).
    batch: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return cls.spec_fields(value)
        return value

    @staticmethod
    def spec_fields(spec: str) -> dict[str, str]:
        spec = spec.strip()
        if spec == "simulated":
            return {"provider": "simulated", "model": "simulated"}
        provider, separator, model = spec.partition(":")
        if not separator or not model:
            raise ValueError(f"model spec '{spec}' is not 'provider:model' (or 'simulated')")
        return {"provider": provider, "model": model}

    @classmethod
    def parse(cls, spec: str) -> ModelRef:
        return cls.model_validate(spec)

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def key_env(self) -> str | None:
        """The environment variable holding this endpoint's key (None: no key, e.g. simulated)."""
        return self.api_key_env or DEFAULT_KEY_ENV.get(self.provider)

    @property
    def endpoint(self) -> tuple[Any, ...]:
        """What makes two refs share one provider instance: everything except the model name."""
        return (self.provider, self.base_url, self.key_env, self.tool_call_mode, self.structured_mode,
                self.timeout_s)


SIMULATED = ModelRef(provider="simulated", model="simulated")


class ModelPrice(FrozenModel):
    """USD per million tokens. Cached input is billed at its own (lower) price, cache writes at theirs."""

    input: float = Field(ge=0)
    cached_input: float = Field(ge=0)
    output: float = Field(ge=0)
    # Anthropic bills prompt-cache writes at 1.25x input (5-minute cache); None: at the input price (OpenAI).
    cache_write_input: float | None = Field(default=None, ge=0)
    # Share taken off every price of a request sent through the provider's batch API (both bill half).
    batch_discount: float = Field(default=0.5, ge=0, lt=1)


# List prices (USD / 1M tokens) at the time of writing; override or extend under `prices:`.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    name: ModelPrice(input=i, cached_input=c, output=o, cache_write_input=w) for name, (i, c, o, w) in {
        "gpt-4o": (2.50, 1.25, 10.00, None),
        "gpt-4o-mini": (0.15, 0.075, 0.60, None),
        "gpt-4.1": (2.00, 0.50, 8.00, None),
        "gpt-4.1-mini": (0.40, 0.10, 1.60, None),
        "gpt-4.1-nano": (0.10, 0.025, 0.40, None),
        "o3-mini": (1.10, 0.55, 4.40, None),
        "o4-mini": (1.10, 0.275, 4.40, None),
        "claude-3-5-sonnet-latest": (3.00, 0.30, 15.00, 3.75),
        "claude-3-5-sonnet": (3.00, 0.30, 15.00, 3.75),
        "claude-3-7-sonnet-latest": (3.00, 0.30, 15.00, 3.75),
        "claude-sonnet-4-0": (3.00, 0.30, 15.00, 3.75),
        "claude-sonnet-4": (3.00, 0.30, 15.00, 3.75),
        "claude-3-5-haiku-latest": (0.80, 0.08, 4.00, 1.00),
        "claude-3-5-haiku": (0.80, 0.08, 4.00, 1.00),
        "claude-opus-4-0": (15.00, 1.50, 75.00, 18.75),
    }.items()
}


class RateLimit(FrozenModel):
    """Per (provider, model). None = no limit on that axis."""

    requests_per_min: float | None = Field(default=None, gt=0)
    input_tokens_per_min: float | None = Field(default=None, gt=0)
    output_tokens_per_min: float | None = Field(default=None, gt=0)


class RetrySettings(FrozenModel):
    max_attempts_transient: int = Field(default=5, ge=1)
    max_attempts_rate_limit: int = Field(default=8, ge=1)
    # An endpoint that refuses connections (or has no DNS name, or never accepts) is tried this often
    # per request, then the batch stops and the step fails naming the endpoint.
    max_attempts_connection: int = Field(default=3, ge=1)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    # Fraction of each backoff drawn at random, so retries of a burst do not arrive together.
    jitter: float = Field(default=0.5, ge=0, le=1)


# Roles whose requests never wait on a live conversation turn. The human, the agent and the critic (which
# scores the human's candidates within a turn) are always live in this pipeline.
BATCHABLE_ROLES = ("generator", "judge", "summarizer", "recombiner")


class RoleModels(FrozenModel):
    generator: ModelRef = ModelRef(provider="openai", model="gpt-4o")
    summarizer: ModelRef = ModelRef(provider="openai", model="gpt-4o-mini")
    recombiner: ModelRef = ModelRef(provider="openai", model="gpt-4o")
    human: ModelRef = ModelRef(provider="openai", model="gpt-4o-mini")
    critic: ModelRef = ModelRef(provider="openai", model="gpt-4o-mini")
    agent: ModelRef = ModelRef(provider="openai", model="gpt-4o")

    @model_validator(mode="after")
    def _batch_only_where_no_turn_waits(self) -> RoleModels:
        live = [name for name in type(self).model_fields if name not in BATCHABLE_ROLES and getattr(self, name).batch]
        if live:
            raise ValueError(f"batch: true is only for {', '.join(BATCHABLE_ROLES)}; "
                             f"{', '.join(live)} answer within a live turn")
        return self


def _default_judges() -> list[ModelRef]:
    # A committee of diverse models (the method's point): two providers, two sizes.
    return [ModelRef(provider="openai", model="gpt-4o"),
            ModelRef(provider="anthropic", model="claude-3-5-sonnet-latest"),
            ModelRef(provider="openai", model="gpt-4o-mini")]


class Route(FrozenModel):
    """Where a request goes (`target`) and which model its projected cost is priced at."""

    target: ModelRef
    projection: ModelRef
    batch: bool = False  # through the target provider's batch API (the role's configured `batch`)


def env_overlay(env: Mapping[str, str]) -> dict[str, str]:
    """The LLM settings fields the environment sets (`ENV_SETTINGS`), as the raw strings to validate."""
    return {setting: env[variable] for variable, setting in ENV_SETTINGS if env.get(variable)}


class LLMSettings(FrozenModel):
    roles: RoleModels = RoleModels()
    judges: list[ModelRef] = Field(default_factory=_default_judges, min_length=1)
    backend_override: str | None = None
    # Where an overriding "openai:model" lives when it is an OpenAI-compatible server (vLLM, Ollama).
    backend_base_url: str | None = None
    # Seconds per request for the overriding model (its `timeout_s`); None keeps the default.
    backend_timeout_s: float | None = Field(default=None, gt=0)
    prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    limits: dict[str, RateLimit] = Field(default_factory=dict)  # key "provider:model"
    max_concurrency: int = Field(default=16, ge=1)
    # The SDKs' HTTP transport: aiohttp (their `aiohttp` extra) costs far less CPU per request than httpx.
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    retry: RetrySettings = RetrySettings()
    max_repair_turns: int = Field(default=2, ge=0)
    budget_usd: float | None = Field(default=None, ge=0)
    failure_rate_threshold: float = Field(default=0.5, gt=0, le=1)
    failure_rate_min_requests: int = Field(default=20, ge=1)
    simulated_seed: int = 0
    simulated_faults: FaultRates | None = None
    simulated_latency_s: float = Field(default=0.0, ge=0)
    # Provider batches: how long one attempt of a step waits for its batches (in its llm_api slot), how often
    # it asks the provider meanwhile, then how long the step rests outside the pool before its next attempt
    # polls the same batches, and how many attempts (OpenAI and Anthropic end a batch within 24 h).
    batch_max_wait_s: float = Field(default=300.0, gt=0)
    batch_poll_interval_s: float = Field(default=10.0, gt=0)
    batch_retry_wait_s: float = Field(default=900.0, ge=0)
    batch_max_step_retries: int = Field(default=100, ge=0)

    @field_validator("prices")
    @classmethod
    def _prices_extend_defaults(cls, value: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        return {**DEFAULT_PRICES, **value}

    @field_validator("limits")
    @classmethod
    def _limit_keys_name_models(cls, value: dict[str, RateLimit]) -> dict[str, RateLimit]:
        for key in value:
            ModelRef.parse(key)
        return value

    @field_validator("backend_override")
    @classmethod
    def _override_is_a_model(cls, value: str | None) -> str | None:
        if value is not None and value.strip() and value.strip() != USE_CONFIGURED_MODELS:
            ModelRef.parse(value)
        if value is None:
            return None
        return value.strip() or None

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def from_sources(cls, path: str | Path | None = None,
                     env: Mapping[str, str] | None = None) -> LLMSettings:
        """YAML file (optional) overlaid by the `APIGEN_LLM` environment variable."""
        env = os.environ if env is None else env
        raw: dict[str, Any] = {}
        where = "defaults"
        if path is not None:
            where = str(path)
            loaded = yaml.safe_load(Path(path).read_text())
            if loaded is not None and not isinstance(loaded, dict):
                raise SettingsError(f"{where}: LLM settings must be a mapping, got {type(loaded).__name__}")
            raw = dict(loaded or {})
        overlay = env_overlay(env)
        raw.update(overlay)
        where += "".join(f" + {variable}" for variable, setting in ENV_SETTINGS if setting in overlay)
        return cls.validated(raw, where)

    @classmethod
    def validated(cls, raw: Mapping[str, Any], where: str = "settings") -> LLMSettings:
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in issue['loc']) or '<root>'}: {issue['msg']}"
                for issue in error.errors())
            raise SettingsError(f"invalid LLM settings ({where}): {problems}") from None

    # -- routing --------------------------------------------------------------------------------
    def configured_model(self, role: Role, judge_index: int | None = None) -> ModelRef:
        """The model configured for a role (the real model, whatever the backend)."""
        if role == "judge":
            if judge_index is None or not 0 <= judge_index < len(self.judges):
                raise SettingsError(f"judge request needs tags['judge_index'] in 0..{len(self.judges) - 1},"
                                    f" got {judge_index!r}")
            return self.judges[judge_index]
        # "default" is for ad-hoc calls that belong to no pipeline role: the generator's model.
        return getattr(self.roles, "generator" if role == "default" else role)

    def route(self, role: Role, judge_index: int | None = None) -> Route:
        configured = self.configured_model(role, judge_index)
        override = self.backend_override
        if override == USE_CONFIGURED_MODELS:
            return Route(target=configured, projection=configured,
                         batch=configured.batch and configured.provider in BATCH_PROVIDERS)
        target = SIMULATED if override is None else ModelRef.parse(override)
        if self.backend_base_url and target.provider != "simulated":
            target = target.model_copy(update={"base_url": self.backend_base_url})
        if self.backend_timeout_s is not None and target.provider != "simulated":
            target = target.model_copy(update={"timeout_s": self.backend_timeout_s})
        projection = configured if target.provider == "simulated" else target
        return Route(target=target, projection=projection,
                     batch=configured.batch and target.provider in BATCH_PROVIDERS)

    def all_routes(self) -> list[Route]:
        """The route of every role and every judge."""
        routes = [self.route(role) for role in RoleModels.model_fields]  # type: ignore[arg-type]
        return routes + [self.route("judge", index) for index in range(len(self.judges))]

    def all_models(self) -> list[ModelRef]:
        return [*(getattr(self.roles, name) for name in RoleModels.model_fields), *self.judges]

    def api_key_env_names(self) -> set[str]:
        """Every variable that may hold a key: used to scrub key values from anything stored."""
        names = {ref.key_env for ref in self.all_models() if ref.key_env}
        if self.backend_override not in (None, USE_CONFIGURED_MODELS):
            override_env = ModelRef.parse(self.backend_override).key_env
            if override_env:
                names.add(override_env)
        return names | set(DEFAULT_KEY_ENV.values())

    def limit_for(self, provider: str, model: str) -> RateLimit:
        return self.limits.get(f"{provider}:{model}", RateLimit())

    def fingerprint(self) -> str:
        """A hash of the effective settings. Holds variable *names* only, never key values."""
        body = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]
