"""The catalog: providers, their keys, and the logical models routed over them.

This is the only code that writes those tables; the management API, the console and the YAML
config file all go through it. Every write is one transaction (nothing half-written), after which
``on_change`` (``Hub.reload_routing``) swaps in a fresh routing snapshot. Answers are public shapes:
a key's secret leaves this module only encrypted (into the database) or masked (``…abcd``).

Input models double as the management API's request bodies and the config file's item shapes, so
one set of rules validates all three doors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar
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
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from services.errors import CatalogError, RequestError
from services.gateway.adapters import resolve_base_url
from services.clock import to_datetime, utcnow
from services.crypto import SecretBox, mask_secret
from services.db import session_scope
from services.gateway.key_state import KeyStateStore
from services.tables import PROVIDER_KINDS, KeyState, LogicalModel, ModelRoute, Provider, ProviderCircuit, ProviderKey

MICROS_PER_USD = 1_000_000
MAX_COUNT = 10**12  # generous, but keeps every number inside SQLite's 64-bit integers
MAX_USD = 10**8

Change = Literal["created", "updated", "unchanged"]
KeyStatus = Literal["active", "cooling", "exhausted", "invalid", "disabled"]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def field_path(loc: Sequence[int | str]) -> str:
    """``("keys", 0, "secret")`` → ``keys[0].secret``."""
    path = ""
    for step in loc:
        path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else str(step))
    return path


def clean_message(message: str) -> str:
    """Pydantic's message, plainer: no ``Value error, `` prefix on our validators' errors."""
    return "unknown field" if message == "Extra inputs are not permitted" else message.removeprefix("Value error, ")


# -- input types -------------------------------------------------------------------------------


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
Kind = Literal[PROVIDER_KINDS]  # type: ignore[valid-type]


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


# -- public shapes -----------------------------------------------------------------------------


class KeyPublic(BaseModel):
    id: int
    provider_id: int
    provider: str
    label: str
    secret_masked: str
    priority: int
    weight: int
    rpm: int | None
    tpm: int | None
    daily_tokens: int | None
    monthly_usd: Decimal | None
    enabled: bool
    status: KeyStatus
    status_until: UtcTime | None = Field(description="when a cooldown or exhaustion ends (UTC)")
    last_error: str | None
    last_error_at: UtcTime | None
    created_at: UtcTime
    updated_at: UtcTime


class ProviderPublic(BaseModel):
    id: int
    name: str
    kind: str
    base_url: str | None
    effective_base_url: str
    enabled: bool
    keys: list[KeyPublic]
    created_at: UtcTime
    updated_at: UtcTime


class RoutePublic(BaseModel):
    provider: str
    model: str
    priority: int
    weight: int


class ModelPublic(BaseModel):
    id: int
    name: str
    description: str | None
    enabled: bool
    routes: list[RoutePublic]
    created_at: UtcTime
    updated_at: UtcTime


def _last4(secret: str) -> str:
    """What may be stored in clear: the part of the secret that ``mask_secret`` shows."""
    return mask_secret(secret).removeprefix("…")


def live_status(states: KeyStateStore, key_id: int, enabled: bool) -> tuple[KeyStatus, float | None]:
    """A key's status word and, while cooling or exhausted, when that ends (epoch seconds).
    Memory only, so the console can poll it every few seconds."""
    if not enabled:
        return "disabled", None
    status: KeyStatus = states.status(key_id, states.clock.now())  # type: ignore[assignment]
    health = states.keys.get(key_id)
    if health is not None and status == "cooling":
        return status, health.cooldown_until
    if health is not None and status == "exhausted":
        return status, health.exhausted_until
    return status, None


def key_public(key: ProviderKey, provider_name: str, states: KeyStateStore) -> KeyPublic:
    health = states.keys.get(key.id or 0)
    status, until = live_status(states, key.id or 0, key.enabled)
    return KeyPublic(
        id=key.id or 0, provider_id=key.provider_id, provider=provider_name, label=key.label,
        secret_masked="…" + key.secret_last4, priority=key.priority, weight=key.weight, rpm=key.rpm, tpm=key.tpm,
        daily_tokens=key.daily_tokens, monthly_usd=micros_to_usd(key.monthly_usd_micros), enabled=key.enabled,
        status=status, status_until=to_datetime(until), last_error=health.last_error if health else None,
        last_error_at=to_datetime(health.last_error_at) if health else None,
        created_at=key.created_at, updated_at=key.updated_at,
    )


# -- one transaction ---------------------------------------------------------------------------


def _assign(row: Any, values: Mapping[str, Any]) -> bool:
    """Set the attributes that differ; bump ``updated_at`` when any did. True if anything changed."""
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    for name, value in changed.items():
        setattr(row, name, value)
    if changed and hasattr(row, "updated_at"):
        row.updated_at = utcnow()
    return bool(changed)


def _key_values(data: KeyCreate | KeyUpdate, *, only_sent: bool) -> dict[str, Any]:
    values = data.model_dump(exclude_unset=only_sent, exclude={"secret"})
    if "monthly_usd" in values:
        values["monthly_usd_micros"] = usd_to_micros(values.pop("monthly_usd"))
    return values


def _require_base_url(provider: Provider) -> None:
    if provider.kind == "openai_compatible" and not provider.base_url:
        raise CatalogError("an openai_compatible provider needs a base_url", field="base_url")


class CatalogSession:
    """Catalog reads and writes on one open session. In-memory follow-ups (forgetting or resetting
    a key's health) are queued in ``after_commit`` and run only once the transaction is committed."""

    def __init__(self, session: Session, box: SecretBox) -> None:
        self.session = session
        self.box = box
        self.after_commit: list[Callable[[KeyStateStore], None]] = []

    # -- lookups ---------------------------------------------------------------------------------

    def find_provider(self, name: str) -> Provider | None:
        return self.session.exec(select(Provider).where(Provider.name == name)).first()

    def provider(self, name: str) -> Provider:
        provider = self.find_provider(name)
        if provider is None:
            raise CatalogError(f"no provider named {name!r}", field="provider", status=404)
        return provider

    def key(self, key_id: int) -> ProviderKey:
        key = self.session.get(ProviderKey, key_id)
        if key is None:
            raise CatalogError(f"no key with id {key_id}", field="key_id", status=404)
        return key

    def find_model(self, name: str) -> LogicalModel | None:
        return self.session.exec(select(LogicalModel).where(LogicalModel.name == name)).first()

    def model(self, name: str) -> LogicalModel:
        model = self.find_model(name)
        if model is None:
            raise CatalogError(f"no model named {name!r}", field="model", status=404)
        return model

    def keys_of(self, provider_id: int) -> list[ProviderKey]:
        return list(self.session.exec(select(ProviderKey).where(ProviderKey.provider_id == provider_id).order_by(col(ProviderKey.id))))

    def routes_of(self, model_id: int) -> list[ModelRoute]:
        query = select(ModelRoute).where(ModelRoute.model_id == model_id).order_by(col(ModelRoute.priority), col(ModelRoute.id))
        return list(self.session.exec(query))

    def _free_provider_name(self, name: str) -> None:
        if self.find_provider(name) is not None:
            raise CatalogError(f"a provider named {name!r} already exists", field="name", status=409)

    def _free_label(self, provider_id: int, label: str) -> None:
        query = select(ProviderKey).where(ProviderKey.provider_id == provider_id, ProviderKey.label == label)
        if self.session.exec(query).first() is not None:
            raise CatalogError(f"this provider already has a key labelled {label!r}", field="label", status=409)

    def _free_model_name(self, name: str) -> None:
        if self.find_model(name) is not None:
            raise CatalogError(f"a model named {name!r} already exists", field="name", status=409)

    # -- providers -------------------------------------------------------------------------------

    def create_provider(self, data: ProviderCreate) -> Provider:
        self._free_provider_name(data.name)
        provider = Provider(name=data.name, kind=data.kind, base_url=data.base_url, enabled=data.enabled)
        _require_base_url(provider)
        self.session.add(provider)
        self.session.flush()
        for key in data.keys:
            self.add_key(provider, key)
        return provider

    def update_provider(self, name: str, data: ProviderUpdate) -> tuple[Provider, bool]:
        provider = self.provider(name)
        values = data.model_dump(exclude_unset=True)
        if values.get("name", provider.name) != provider.name:
            self._free_provider_name(values["name"])
        changed = _assign(provider, values)
        _require_base_url(provider)
        return provider, changed

    def upsert_provider(self, data: ProviderCreate) -> tuple[Provider, Change]:
        """Bring the provider named ``data.name`` to ``data`` (its keys are upserted separately)."""
        if self.find_provider(data.name) is None:
            return self.create_provider(data.model_copy(update={"keys": []})), "created"
        update = ProviderUpdate(kind=data.kind, base_url=data.base_url, enabled=data.enabled)
        provider, changed = self.update_provider(data.name, update)
        return provider, "updated" if changed else "unchanged"

    def delete_provider(self, name: str) -> None:
        """Delete a provider with its keys, their health, its circuit and every route to it."""
        provider = self.provider(name)
        provider_id = provider.id or 0
        key_ids = [k.id or 0 for k in self.keys_of(provider_id)]
        self.session.exec(delete(ModelRoute).where(col(ModelRoute.provider_id) == provider_id))
        self.session.exec(delete(KeyState).where(col(KeyState.key_id).in_(key_ids)))
        self.session.exec(delete(ProviderKey).where(col(ProviderKey.provider_id) == provider_id))
        self.session.exec(delete(ProviderCircuit).where(col(ProviderCircuit.provider_id) == provider_id))
        self.session.delete(provider)
        self.after_commit.append(lambda states: states.forget(key_ids, provider_id))

    # -- keys ------------------------------------------------------------------------------------

    def add_key(self, provider: Provider, data: KeyCreate) -> ProviderKey:
        self._free_label(provider.id or 0, data.label)
        secret = data.secret.get_secret_value()
        key = ProviderKey(
            provider_id=provider.id or 0, secret_enc=self.box.encrypt(secret), secret_last4=_last4(secret),
            **_key_values(data, only_sent=False),
        )
        self.session.add(key)
        self.session.flush()
        key_id = key.id or 0
        self.after_commit.append(lambda states: states.forget([key_id]))
        return key

    def update_key(self, key_id: int, data: KeyUpdate) -> tuple[ProviderKey, bool]:
        key = self.key(key_id)
        values = _key_values(data, only_sent=True)
        if values.get("label", key.label) != key.label:
            self._free_label(key.provider_id, values["label"])
        return key, _assign(key, values)

    def rotate_key_secret(self, key_id: int, secret: str) -> ProviderKey:
        """A new secret for the same key (same id, usage history and limits); its health starts over."""
        key = self.key(key_id)
        try:
            secret = clean_secret(secret)
        except ValueError as exc:
            raise CatalogError(f"secret {exc}", field="secret") from None
        _assign(key, {"secret_enc": self.box.encrypt(secret), "secret_last4": _last4(secret)})
        self.after_commit.append(lambda states: states.reset_key(key_id))
        return key

    def upsert_key(self, provider: Provider, data: KeyCreate) -> Change:
        """Bring the key labelled ``data.label`` to ``data``; the secret is compared decrypted, so an
        unchanged secret is not re-encrypted."""
        query = select(ProviderKey).where(ProviderKey.provider_id == provider.id, ProviderKey.label == data.label)
        key = self.session.exec(query).first()
        if key is None:
            self.add_key(provider, data)
            return "created"
        changed = _assign(key, _key_values(data, only_sent=False))
        secret = data.secret.get_secret_value()
        if self.box.decrypt(key.secret_enc) != secret:
            self.rotate_key_secret(key.id or 0, secret)
            changed = True
        return "updated" if changed else "unchanged"

    def delete_key(self, key_id: int) -> None:
        key = self.key(key_id)
        self.session.exec(delete(KeyState).where(col(KeyState.key_id) == key_id))
        self.session.delete(key)
        self.after_commit.append(lambda states: states.forget([key_id]))

    # -- logical models --------------------------------------------------------------------------

    def create_model(self, data: ModelCreate) -> LogicalModel:
        self._free_model_name(data.name)
        model = LogicalModel(name=data.name, description=data.description, enabled=data.enabled)
        self.session.add(model)
        self.session.flush()
        self._set_routes(model, data.routes)
        return model

    def replace_model(self, name: str, data: ModelCreate) -> tuple[LogicalModel, bool]:
        """Give the model exactly ``data``: its fields (a new name renames it) and its route list."""
        model = self.model(name)
        if data.name != model.name:
            self._free_model_name(data.name)
        changed = _assign(model, {"name": data.name, "description": data.description, "enabled": data.enabled})
        if self._set_routes(model, data.routes):
            model.updated_at = utcnow()
            changed = True
        return model, changed

    def upsert_model(self, data: ModelCreate) -> Change:
        if self.find_model(data.name) is None:
            self.create_model(data)
            return "created"
        return "updated" if self.replace_model(data.name, data)[1] else "unchanged"

    def delete_model(self, name: str) -> None:
        model = self.model(name)
        self.session.exec(delete(ModelRoute).where(col(ModelRoute.model_id) == model.id))
        self.session.delete(model)

    def _set_routes(self, model: LogicalModel, routes: list[RouteIn]) -> bool:
        """Replace the model's routes when they differ (order: priority, then the order given)."""
        wanted = []
        for index, route in enumerate(routes):
            provider = self.find_provider(route.provider)
            if provider is None:
                raise CatalogError(f"no provider named {route.provider!r}", field=f"routes[{index}].provider")
            wanted.append((provider.id or 0, route.model, route.priority, route.weight))
        wanted.sort(key=lambda route: route[2])
        current = [(r.provider_id, r.upstream_model, r.priority, r.weight) for r in self.routes_of(model.id or 0)]
        if current == wanted:
            return False
        self.session.exec(delete(ModelRoute).where(col(ModelRoute.model_id) == model.id))
        self.session.add_all(
            ModelRoute(model_id=model.id or 0, provider_id=pid, upstream_model=name, priority=priority, weight=weight)
            for pid, name, priority, weight in wanted
        )
        self.session.flush()
        return True

    # -- public shapes ---------------------------------------------------------------------------

    def provider_public(self, provider: Provider, states: KeyStateStore) -> ProviderPublic:
        return ProviderPublic(
            id=provider.id or 0, name=provider.name, kind=provider.kind, base_url=provider.base_url,
            effective_base_url=resolve_base_url(provider.kind, provider.base_url), enabled=provider.enabled,
            keys=[key_public(k, provider.name, states) for k in self.keys_of(provider.id or 0)],
            created_at=provider.created_at, updated_at=provider.updated_at,
        )

    def model_public(self, model: LogicalModel, provider_names: Mapping[int, str]) -> ModelPublic:
        routes = [
            RoutePublic(provider=provider_names[r.provider_id], model=r.upstream_model, priority=r.priority, weight=r.weight)
            for r in self.routes_of(model.id or 0)
        ]
        return ModelPublic(
            id=model.id or 0, name=model.name, description=model.description, enabled=model.enabled, routes=routes,
            created_at=model.created_at, updated_at=model.updated_at,
        )

    def provider_names(self) -> dict[int, str]:
        return {p.id or 0: p.name for p in self.session.exec(select(Provider))}


# -- the facade --------------------------------------------------------------------------------


class Catalog:
    """Catalog operations for the API, the console and the config file; each is one transaction."""

    def __init__(self, engine: Engine, box: SecretBox, states: KeyStateStore, on_change: Callable[[], None]) -> None:
        self.engine = engine
        self.box = box
        self.states = states
        self.on_change = on_change

    @contextmanager
    def batch(self, *, dry_run: bool = False) -> Iterator[CatalogSession]:
        """Several writes in one transaction, then one routing reload. ``dry_run`` checks every
        write against the database and rolls them all back."""
        try:
            with session_scope(self.engine) as session:
                writer = CatalogSession(session, self.box)
                yield writer
                if dry_run:
                    session.rollback()  # session_scope's commit then has nothing left to write
        except IntegrityError as exc:
            raise CatalogError("the change conflicts with a concurrent one; try again", status=409) from exc
        if dry_run:
            return
        for follow_up in writer.after_commit:
            follow_up(self.states)
        self.on_change()

    def _write(self, action: Callable[[CatalogSession], T]) -> T:
        with self.batch() as writer:
            return action(writer)

    def _read(self, action: Callable[[CatalogSession], T]) -> T:
        with Session(self.engine) as session:
            return action(CatalogSession(session, self.box))

    # -- providers -------------------------------------------------------------------------------

    def list_providers(self) -> list[ProviderPublic]:
        def read(cs: CatalogSession) -> list[ProviderPublic]:
            providers = cs.session.exec(select(Provider).order_by(col(Provider.name)))
            return [cs.provider_public(p, self.states) for p in providers]

        return self._read(read)

    def get_provider(self, name: str) -> ProviderPublic:
        return self._read(lambda cs: cs.provider_public(cs.provider(name), self.states))

    def create_provider(self, data: ProviderCreate | Mapping[str, Any]) -> ProviderPublic:
        spec = parse(ProviderCreate, data)
        return self.get_provider(self._write(lambda cs: cs.create_provider(spec).name))

    def update_provider(self, name: str, data: ProviderUpdate | Mapping[str, Any]) -> ProviderPublic:
        spec = parse(ProviderUpdate, data)
        return self.get_provider(self._write(lambda cs: cs.update_provider(name, spec)[0].name))

    def delete_provider(self, name: str) -> None:
        self._write(lambda cs: cs.delete_provider(name))

    # -- keys ------------------------------------------------------------------------------------

    def list_keys(self, provider: str | None = None) -> list[KeyPublic]:
        def read(cs: CatalogSession) -> list[KeyPublic]:
            names = cs.provider_names()
            query = select(ProviderKey).order_by(col(ProviderKey.provider_id), col(ProviderKey.id))
            if provider is not None:
                query = query.where(ProviderKey.provider_id == cs.provider(provider).id)
            return [key_public(k, names[k.provider_id], self.states) for k in cs.session.exec(query)]

        return self._read(read)

    def get_key(self, key_id: int) -> KeyPublic:
        def read(cs: CatalogSession) -> KeyPublic:
            key = cs.key(key_id)
            return key_public(key, cs.provider_names()[key.provider_id], self.states)

        return self._read(read)

    def create_key(self, provider: str, data: KeyCreate | Mapping[str, Any]) -> KeyPublic:
        spec = parse(KeyCreate, data)
        return self.get_key(self._write(lambda cs: cs.add_key(cs.provider(provider), spec).id or 0))

    def update_key(self, key_id: int, data: KeyUpdate | Mapping[str, Any]) -> KeyPublic:
        spec = parse(KeyUpdate, data)
        self._write(lambda cs: cs.update_key(key_id, spec))
        return self.get_key(key_id)

    def set_key_enabled(self, key_id: int, enabled: bool) -> KeyPublic:
        return self.update_key(key_id, KeyUpdate(enabled=enabled))

    def rotate_key_secret(self, key_id: int, secret: str) -> KeyPublic:
        self._write(lambda cs: cs.rotate_key_secret(key_id, secret))
        return self.get_key(key_id)

    def reset_key_health(self, key_id: int) -> KeyPublic:
        """Clear cooldown, invalid/exhausted marks and failure counts (after the admin fixed it)."""
        self.get_key(key_id)
        self.states.reset_key(key_id)
        return self.get_key(key_id)

    def force_cooldown(self, key_id: int, seconds: float) -> KeyPublic:
        """Take a key out of rotation for ``seconds`` (e.g. while its provider has trouble)."""
        self.get_key(key_id)
        self.states.force_cooldown(key_id, seconds)
        return self.get_key(key_id)

    def delete_key(self, key_id: int) -> None:
        self._write(lambda cs: cs.delete_key(key_id))

    # -- logical models --------------------------------------------------------------------------

    def list_models(self) -> list[ModelPublic]:
        def read(cs: CatalogSession) -> list[ModelPublic]:
            names = cs.provider_names()
            return [cs.model_public(m, names) for m in cs.session.exec(select(LogicalModel).order_by(col(LogicalModel.name)))]

        return self._read(read)

    def get_model(self, name: str) -> ModelPublic:
        return self._read(lambda cs: cs.model_public(cs.model(name), cs.provider_names()))

    def create_model(self, data: ModelCreate | Mapping[str, Any]) -> ModelPublic:
        spec = parse(ModelCreate, data)
        return self.get_model(self._write(lambda cs: cs.create_model(spec).name))

    def replace_model(self, name: str, data: ModelCreate | Mapping[str, Any]) -> ModelPublic:
        spec = parse(ModelCreate, data)
        return self.get_model(self._write(lambda cs: cs.replace_model(name, spec)[0].name))

    def delete_model(self, name: str) -> None:
        self._write(lambda cs: cs.delete_model(name))
