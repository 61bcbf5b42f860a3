"""What the catalog accepts: the input shapes of providers, keys and logical models, and their rules.

The same models are the management API's request bodies, the console forms' checks and the YAML
config file's item shapes, so one set of rules validates all three doors. Unknown fields are
refused (a typo never passes silently); money is accepted in USD and stored in micro-dollars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar, get_args
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
)

from services.errors import CatalogError, RequestError
from services.tables import PROVIDER_KINDS

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
BaseUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(_http_url)]
Count = Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=MAX_COUNT)]
Usd = Annotated[Decimal, BeforeValidator(_not_bool), Field(gt=0, le=MAX_USD, decimal_places=6)]
Secret = Annotated[SecretStr, AfterValidator(_clean_secret_str)]
Kind = Literal["openai", "anthropic", "gemini", "ollama", "openai_compatible"]
if get_args(Kind) != PROVIDER_KINDS:  # a type needs the words spelled out; they must stay the ones the gateway knows
    raise RuntimeError(f"services.catalog.inputs.Kind {get_args(Kind)} differs from services.tables.PROVIDER_KINDS {PROVIDER_KINDS}")


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
    kind: Kind
    base_url: BaseUrl | None = Field(None, description="required for openai_compatible; a default for the others")
    enabled: bool = True
    keys: list[KeyCreate] = Field(default_factory=list)

    @field_validator("keys")
    @classmethod
    def _unique_labels(cls, keys: list[KeyCreate]) -> list[KeyCreate]:
        _refuse_duplicates([k.label for k in keys], "key label")
        return keys


class ProviderUpdate(Input):
    """Only the fields sent change; ``base_url: null`` goes back to the kind's default."""

    name: Name | None = None
    kind: Kind | None = None
    base_url: BaseUrl | None = None
    enabled: bool | None = None

    _not_null = field_validator("name", "kind", "enabled")(_refuse_null)


class RouteIn(Input):
    provider: Text
    model: Text
    priority: Count = Field(1, description="1 is tried first")
    weight: Count = Field(1, description="share of traffic among routes of the same priority")


class ModelCreate(Input):
    name: Name
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    enabled: bool = True
    routes: list[RouteIn] = Field(min_length=1)

    @field_validator("routes")
    @classmethod
    def _unique_routes(cls, routes: list[RouteIn]) -> list[RouteIn]:
        _refuse_duplicates([f"{r.provider}/{r.model}" for r in routes], "route")
        return routes


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
