"""What the catalog accepts: the input shapes of providers, keys and logical models, and their rules.

The same models are the management API's request bodies, the console forms' checks and the YAML
config file's item shapes, so one set of rules validates all three doors. Unknown fields are
refused (a typo never passes silently); money is accepted in USD and stored in micro-dollars.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from services.cache.policy import CacheInput
from services.errors import CatalogError, RequestError
from services.gateway.presets import PRESETS, known_preset, with_preset
from services.tables import ProviderKind

MICROS_PER_USD = 1_000_000
MAX_COUNT = 10**12  # generous, but keeps every number inside SQLite's 64-bit integers
MAX_USD = 10**8
M = TypeVar("M", bound=BaseModel)


def field_path(loc: Sequence[int | str]) -> str:
    """``("keys", 0, "secret")`` → ``keys[0].secret``."""
    path = ""
    for step in loc:
        path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else str(step))
    return path


def clean_message(message: str) -> str:
    """Pydantic's message, plainer: no ``Value error, `` prefix on our validators' errors."""
    return "unknown field" if message == "Extra inputs are not permitted" else message.removeprefix("Value error, ")



def _no_slash(value: str) -> str:
    if "/" in value:
        raise ValueError("must not contain '/' (that is the `provider/model` syntax)")
    return value


def _model_name(value: str) -> str:
    """A logical model's name: no '/' (the ``provider/model`` syntax) unless it is a wildcard pattern
    ending in '*' (``openai/*``), and at most one '*'."""
    if value.count("*") > 1 or ("*" in value and not value.endswith("*")):
        raise ValueError("a wildcard model name has one '*', at its end (e.g. `openai/*`)")
    return value if value.endswith("*") else _no_slash(value)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


def clean_secret(value: str) -> str:
    secret = value.strip()
    if not secret:
        raise ValueError("must not be empty")
    return secret


def _clean_secret_str(value: SecretStr) -> SecretStr:
    return SecretStr(clean_secret(value.get_secret_value()))


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name = Annotated[Text, AfterValidator(_no_slash)]
ModelName = Annotated[Text, AfterValidator(_model_name)]
BaseUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(_http_url)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT), BeforeValidator(_not_bool)]
Usd = Annotated[Decimal, Field(gt=0, le=MAX_USD, decimal_places=6), BeforeValidator(_not_bool)]
Secret = Annotated[SecretStr, Field(min_length=1), AfterValidator(_clean_secret_str)]
Kind = ProviderKind


def _option_text(value: Any) -> Any:
    """YAML reads ``api_version: 2024-10-21`` as a date and ``project: 1234`` as a number: an option is their text."""
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Options = dict[Annotated[str, StringConstraints(max_length=50)], Annotated[Text, Field(max_length=500), BeforeValidator(_option_text)]]


def as_utc(moment: datetime) -> datetime:
    """Times without a zone are UTC (the storage convention); answers always carry it (``…Z``)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


UtcTime = Annotated[datetime, AfterValidator(as_utc)]


def usd_to_micros(usd: Decimal | None) -> int | None:
    return None if usd is None else int(usd * MICROS_PER_USD)


def micros_to_usd(micros: int | None) -> Decimal | None:
    return None if micros is None else Decimal(micros) / MICROS_PER_USD


class Input(BaseModel):
    """Request shapes: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


def _refuse_null(value: object) -> object:
    """For partial updates: a field may be left out, but not set to null."""
    if value is None:
        raise ValueError("may not be null (leave the field out to keep its value)")
    return value


class KeyCreate(Input):
    label: Text
    secret: Secret
    priority: Count = 1
    weight: Count = 1
    rpm: Count | None = None
    tpm: Count | None = None
    daily_tokens: Count | None = None
    monthly_usd: Usd | None = Field(None, description="monthly spend limit in USD, e.g. \"25.50\"")
    enabled: bool = True


class KeyUpdate(Input):
    """Only the fields sent change; a limit set to null is removed."""

    label: Text | None = None
    priority: Count | None = None
    weight: Count | None = None
    rpm: Count | None = None
    tpm: Count | None = None
    daily_tokens: Count | None = None
    monthly_usd: Usd | None = None
    enabled: bool | None = None

    _not_null = field_validator("label", "priority", "weight", "enabled")(_refuse_null)


class ProviderCreate(Input):
    name: Name
    preset: Annotated[str, AfterValidator(known_preset)] | None = Field(
        None, description=f"an OpenAI-compatible service ({', '.join(PRESETS)}): fills kind, base_url and options.preset "
                          "where they are left out")
    kind: Kind
    base_url: BaseUrl | None = Field(None, description="required for openai_compatible and azure; a default for the others")
    options: Options | None = Field(
        None, description="kind-specific: azure api_version, token_url; bedrock region; vertex project, location, token_url"
    )
    enabled: bool = True
    keys: list[KeyCreate] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data: Any) -> Any:
        return with_preset(data) if isinstance(data, dict) and "preset" in data else data

    @field_validator("keys")
    @classmethod
    def _unique_labels(cls, keys: list[KeyCreate]) -> list[KeyCreate]:
        _refuse_duplicates([k.label for k in keys], "key label")
        return keys


class ProviderUpdate(Input):
    """Only the fields sent change; ``base_url: null`` goes back to the kind's default, ``options: null`` clears them."""

    name: Name | None = None
    kind: Kind | None = None
    base_url: BaseUrl | None = None
    options: Options | None = None
    enabled: bool | None = None

    _not_null = field_validator("name", "kind", "enabled")(_refuse_null)


DEFAULTABLE_PARAMS = frozenset({
    "temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty",
    "seed", "stop", "reasoning_effort", "logit_bias", "user", "parallel_tool_calls", "service_tier",
})
"""Request parameters a route may give a default for (used when the request leaves them out)."""
RESERVED_HEADERS = frozenset({
    "authorization", "x-api-key", "api-key", "x-goog-api-key", "host", "content-length", "content-type",
    "transfer-encoding", "connection", "accept-encoding",
})
"""Headers the gateway sets itself: a route's extra headers may not replace them."""
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")


def _defaultable(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - DEFAULTABLE_PARAMS)
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a parameter a route can set (one of {', '.join(sorted(DEFAULTABLE_PARAMS))})")
    return params


def _extra_headers(headers: dict[str, str]) -> dict[str, str]:
    for name in headers:
        if not HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a header name")
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"{name} is set by the gateway itself")
    return headers


Price = Annotated[Decimal, Field(ge=0, le=MAX_USD, decimal_places=6), BeforeValidator(_not_bool)]


class RoutePrice(Input):
    """What a route's tokens cost, overriding the shipped price table (USD per million tokens)."""

    input: Price
    output: Price


class RouteIn(Input):
    provider: Text
    model: Text = Field(description="the upstream model; in a wildcard model, '*' takes what the name's '*' matched")
    priority: Count = Field(1, description="1 is tried first")
    weight: Count = Field(1, description="share of traffic among routes of the same priority")
    keys: list[Text] | None = Field(None, description="labels of the provider's keys this route may use (default: all)")
    rpm: Count | None = Field(None, description="this route's own limit, counted per key")
    tpm: Count | None = None
    daily_tokens: Count | None = None
    monthly_usd: Usd | None = None
    price: RoutePrice | None = Field(None, description="USD per million tokens, for metering and budgets")
    params: Annotated[dict[str, Any], AfterValidator(_defaultable)] | None = Field(
        None, description="defaults for parameters a request leaves out (temperature, max_tokens, …)"
    )
    headers: Annotated[dict[str, Annotated[str, StringConstraints(max_length=2000)]], AfterValidator(_extra_headers)] | None = Field(
        None, description="extra request headers (e.g. OpenAI-Organization); stored encrypted, answered masked"
    )
    tags: list[Text] | None = Field(None, description="a request's `tags` choose among a model's tagged routes")
    context_fallback: bool = Field(False, description="tried only when a request does not fit the routes before it")
    context_window: Count | None = Field(None, description="tokens; default: the known window of the upstream model")

    def identity(self) -> tuple[object, ...]:
        """Two routes of one model may share provider and upstream model (split by keys or tags), not all of this."""
        return (self.provider, self.model, tuple(self.keys or ()), tuple(sorted(self.tags or ())), self.context_fallback)


Seconds = Annotated[float, Field(gt=0, le=3600), BeforeValidator(_not_bool)]


class ModelCreate(Input):
    name: ModelName
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    enabled: bool = True
    aliases: list[Name] = Field(default_factory=list, description="other names clients may ask for this model by")
    num_retries: Annotated[int, Field(ge=0, le=20), BeforeValidator(_not_bool)] | None = Field(
        None, description="upstream calls after the first (default: LLMHUB_MAX_ATTEMPTS - 1)"
    )
    timeout: Seconds | None = Field(None, description="seconds to wait for an upstream byte (default: LLMHUB_UPSTREAM_TIMEOUT)")
    stream_timeout: Seconds | None = Field(None, description="the same for streamed answers")
    drop_params: bool = Field(False, description="drop parameters a route cannot honour (n > 1, logprobs, non-function tools) "
                              "instead of refusing the request with 400 unsupported_parameter")
    cache: CacheInput = Field(None, description="the response cache: true (exact, with the defaults), or its settings")
    routes: list[RouteIn] = Field(min_length=1)

    @field_validator("routes")
    @classmethod
    def _unique_routes(cls, routes: list[RouteIn]) -> list[RouteIn]:
        _refuse_duplicates([repr(r.identity()) for r in routes], "route")
        return routes

    @field_validator("aliases")
    @classmethod
    def _unique_aliases(cls, aliases: list[str]) -> list[str]:
        _refuse_duplicates(aliases, "alias")
        return aliases

    @model_validator(mode="after")
    def _wildcards_and_aliases(self) -> ModelCreate:
        wildcard = self.name.endswith("*")
        for index, route in enumerate(self.routes):
            if "*" in route.model and not wildcard:
                raise ValueError(f"routes[{index}].model: '*' is only for a wildcard model (a name ending in '*')")
        if self.name in self.aliases:
            raise ValueError("aliases: a model's alias cannot be its own name")
        return self


class ModelPatch(Input):
    """``PATCH /api/models/{name}``: the model's own settings, only those sent change. Its name and
    route list change with ``PUT`` (a route list is validated whole, against the name)."""

    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    enabled: bool | None = None
    aliases: list[Name] | None = None
    num_retries: Annotated[int, Field(ge=0, le=20), BeforeValidator(_not_bool)] | None = None
    timeout: Seconds | None = None
    stream_timeout: Seconds | None = None
    drop_params: bool | None = None
    cache: CacheInput = None

    _not_null = field_validator("enabled", "aliases", "drop_params")(_refuse_null)

    @field_validator("aliases")
    @classmethod
    def _unique_aliases(cls, aliases: list[str]) -> list[str]:
        _refuse_duplicates(aliases, "alias")
        return aliases


def _refuse_duplicates(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} {name!r}")
        seen.add(name)


def parse(model: type[M], data: M | Mapping[str, Any], refusal: type[RequestError] = CatalogError) -> M:
    """Accept a model instance or a plain mapping (the console's forms); bad input → ``refusal``
    naming the first offending field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_path(first["loc"])
        message = f"{field}: {clean_message(first['msg'])}" if field else clean_message(first["msg"])
        raise refusal(message, field=field or None) from None
