"""An immutable in-memory snapshot of providers, keys (decrypted) and logical models.

The request path reads only this snapshot; every management change rebuilds it
(``RoutingTable.load``) and swaps it in whole, so a request never sees a half-applied edit.

A requested name resolves, in this order, to: a logical model; an alias of one; a wildcard model
whose pattern matches (``openai/*``; the longest pattern first, and the part its ``*`` matched takes
the place of ``*`` in each route's upstream model); or a concrete ``provider/model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import orjson
from sqlmodel import Session, col, select

from services.cache.policy import CacheSettings, settings_of
from services.crypto import SecretBox
from services.gateway.adapters import resolve_base_url
from services.gateway.model_limits import default_limits
from services.gateway.pricing import Price
from services.tables import LogicalModel, ModelAlias, ModelRoute, Provider, ProviderKey

KEYLESS_KINDS = frozenset({"ollama", "openai_compatible"})
"""Provider kinds that may run without a key (Ollama, vLLM, LM Studio…): with none configured, they
are called without one."""
KEYLESS_LABEL = "(no key)"


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits an admin set on a key (shared by all its models) or on a route (counted per key)."""

    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    monthly_usd_micros: int | None = None
    any: bool = field(init=False, repr=False, compare=False)  # some limit is set: worked out once, read on every call

    def __post_init__(self) -> None:
        limited = not (self.rpm is None and self.tpm is None and self.daily_tokens is None and self.monthly_usd_micros is None)
        object.__setattr__(self, "any", limited)


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    id: int
    name: str
    kind: str
    base_url: str
    enabled: bool
    options: Mapping[str, str] | None = None  # kind-specific settings (adapters.cloud_options)


@dataclass(frozen=True, slots=True)
class KeyEntry:
    id: int
    provider_id: int
    label: str
    secret: str = field(repr=False)
    priority: int = 1
    weight: int = 1
    limits: Limits = NO_LIMITS
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One deployment of a logical model: what it calls, with which keys, under which rules."""

    provider: ProviderEntry
    upstream_model: str
    priority: int = 1
    weight: int = 1
    id: int | None = None  # None for a concrete provider/model name, which no route in the catalog holds
    key_labels: frozenset[str] | None = None  # None: every key of the provider
    limits: Limits = NO_LIMITS
    price: Price | None = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = field(default=None, repr=False)
    tags: frozenset[str] = frozenset()
    context_fallback: bool = False
    context_window: int | None = None

    def uses(self, key: KeyEntry) -> bool:
        return self.key_labels is None or key.label in self.key_labels


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """A logical model's own call settings; None leaves the process-wide setting."""

    num_retries: int | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    drop_params: bool = False  # parameters a route cannot honour are dropped instead of refused (services.gateway.parameters)
    cache: CacheSettings | None = None  # the model's response cache (services.cache); None: off


DEFAULT_SETTINGS = ModelSettings()


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a requested name serves: its routes and its model's settings."""

    routes: tuple[RouteEntry, ...]
    settings: ModelSettings = DEFAULT_SETTINGS
    model: str | None = None  # the logical model behind the name (None for a concrete provider/model)


@dataclass(frozen=True, slots=True)
class RoutingTable:
    providers: dict[int, ProviderEntry]
    providers_by_name: dict[str, ProviderEntry]
    keys_by_provider: dict[int, tuple[KeyEntry, ...]]
    models: dict[str, tuple[RouteEntry, ...]]
    settings: dict[str, ModelSettings] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias → logical model
    wildcards: tuple[str, ...] = ()  # wildcard model names, longest first

    @classmethod
    def empty(cls) -> RoutingTable:
        return cls({}, {}, {}, {})

    @classmethod
    def load(cls, session: Session, box: SecretBox) -> RoutingTable:
        providers = {
            p.id: ProviderEntry(p.id, p.name, p.kind, resolve_base_url(p.kind, p.base_url, p.options), p.enabled, p.options)
            for p in session.exec(select(Provider))
            if p.id is not None
        }
        keys: dict[int, list[KeyEntry]] = {}
        for k in session.exec(select(ProviderKey).order_by(col(ProviderKey.id))):
            limits = Limits(k.rpm, k.tpm, k.daily_tokens, k.monthly_usd_micros)
            entry = KeyEntry(k.id or 0, k.provider_id, k.label, box.decrypt(k.secret_enc), k.priority, k.weight, limits, k.enabled)
            keys.setdefault(k.provider_id, []).append(entry)
        for provider in providers.values():
            if provider.kind in KEYLESS_KINDS and provider.id not in keys:
                keys[provider.id] = [keyless_key(provider.id)]
        enabled = list(session.exec(select(LogicalModel).where(col(LogicalModel.enabled))))
        names = {m.id: m.name for m in enabled}
        models: dict[str, list[RouteEntry]] = {name: [] for name in names.values()}
        for r in session.exec(select(ModelRoute).order_by(col(ModelRoute.priority), col(ModelRoute.id))):
            if r.model_id in names and r.provider_id in providers:
                models[names[r.model_id]].append(route_entry(r, providers[r.provider_id], box))
        aliases = {a.name: names[a.model_id] for a in session.exec(select(ModelAlias)) if a.model_id in names}
        return cls(
            providers,
            {p.name: p for p in providers.values()},
            {pid: tuple(ks) for pid, ks in keys.items()},
            {name: tuple(routes) for name, routes in models.items()},
            {m.name: ModelSettings(m.num_retries, m.timeout_seconds, m.stream_timeout_seconds, m.drop_params, settings_of(m.cache))
             for m in enabled},
            aliases,
            tuple(sorted((name for name in models if name.endswith("*")), key=len, reverse=True)),
        )

    def resolve(self, requested: str) -> Resolved | None:
        """What a requested name serves (see the module docstring for the order), or None."""
        name = requested if requested in self.models else self.aliases.get(requested)
        if name is not None:
            return Resolved(self.models[name], self.settings.get(name, DEFAULT_SETTINGS), name)
        for pattern in self.wildcards:
            if requested.startswith(pattern[:-1]) and len(requested) >= len(pattern):
                matched = requested[len(pattern) - 1 :]
                routes = tuple(replace(r, upstream_model=r.upstream_model.replace("*", matched)) for r in self.models[pattern])
                return Resolved(routes, self.settings.get(pattern, DEFAULT_SETTINGS), pattern)
        provider_name, sep, model = requested.partition("/")
        provider = self.providers_by_name.get(provider_name)
        if not sep or not model or provider is None:
            return None
        return Resolved((RouteEntry(provider, model),))

    def model_names(self) -> list[str]:
        """Every name a client may ask for and a token may be limited to: the logical models and their
        aliases (wildcard patterns are not names), then every concrete ``provider/model`` routed to."""
        return sorted([name for name in self.models if not name.endswith("*")] + list(self.aliases)) + self.concrete_models()

    def is_logical(self, name: str) -> bool:
        return name in self.models or name in self.aliases

    def concrete_models(self) -> list[str]:
        """Every ``provider/model`` pair that some logical model routes to."""
        seen = {f"{r.provider.name}/{r.upstream_model}" for routes in self.models.values() for r in routes if "*" not in r.upstream_model}
        return sorted(seen)

    def keys_of(self, provider_id: int) -> tuple[KeyEntry, ...]:
        return self.keys_by_provider.get(provider_id, ())

    def keys_for(self, route: RouteEntry) -> tuple[KeyEntry, ...]:
        """The keys a route may use: its own list, else all its provider's."""
        keys = self.keys_of(route.provider.id)
        return keys if route.key_labels is None else tuple(k for k in keys if k.label in route.key_labels)


def keyless_key(provider_id: int) -> KeyEntry:
    """The key a keyless provider is called with: none (a negative id: no stored key has it)."""
    return KeyEntry(-provider_id, provider_id, KEYLESS_LABEL, "")


def route_entry(row: ModelRoute, provider: ProviderEntry, box: SecretBox) -> RouteEntry:
    price = Price(Decimal(row.price["input"]), Decimal(row.price["output"])) if row.price else None
    headers = orjson.loads(box.decrypt(row.headers_enc)) if row.headers_enc else None
    known = default_limits().upstream(row.upstream_model)
    context_window = row.context_window or (known.context if known else None)
    return RouteEntry(
        provider, row.upstream_model, row.priority, row.weight, row.id,
        frozenset(row.keys) if row.keys is not None else None,
        Limits(row.rpm, row.tpm, row.daily_tokens, row.monthly_usd_micros),
        price, row.params or None, headers, frozenset(row.tags or ()), row.context_fallback, context_window,
    )
