"""An immutable in-memory snapshot of providers, keys (decrypted) and logical models.

The request path reads only this snapshot; every management change rebuilds it
(``RoutingTable.load``) and swaps it in whole, so a request never sees a half-applied edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from services.crypto import SecretBox
from services.gateway.adapters import resolve_base_url
from services.tables import LogicalModel, ModelRoute, Provider, ProviderKey


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    id: int
    name: str
    kind: str
    base_url: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class KeyEntry:
    id: int
    provider_id: int
    label: str
    secret: str = field(repr=False)
    priority: int = 1
    weight: int = 1
    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    monthly_usd_micros: int | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class RouteEntry:
    provider: ProviderEntry
    upstream_model: str
    priority: int = 1
    weight: int = 1


@dataclass(frozen=True, slots=True)
class RoutingTable:
    providers: dict[int, ProviderEntry]
    providers_by_name: dict[str, ProviderEntry]
    keys_by_provider: dict[int, tuple[KeyEntry, ...]]
    models: dict[str, tuple[RouteEntry, ...]]

    @classmethod
    def empty(cls) -> RoutingTable:
        return cls({}, {}, {}, {})

    @classmethod
    def load(cls, session: Session, box: SecretBox) -> RoutingTable:
        providers = {
            p.id: ProviderEntry(p.id, p.name, p.kind, resolve_base_url(p.kind, p.base_url), p.enabled)
            for p in session.exec(select(Provider))
            if p.id is not None
        }
        keys: dict[int, list[KeyEntry]] = {}
        for k in session.exec(select(ProviderKey).order_by(col(ProviderKey.id))):
            keys.setdefault(k.provider_id, []).append(
                KeyEntry(
                    k.id or 0, k.provider_id, k.label, box.decrypt(k.secret_enc), k.priority, k.weight,
                    k.rpm, k.tpm, k.daily_tokens, k.monthly_usd_micros, k.enabled,
                )
            )
        names = {m.id: m.name for m in session.exec(select(LogicalModel).where(LogicalModel.enabled == True))}  # noqa: E712
        models: dict[str, list[RouteEntry]] = {name: [] for name in names.values()}
        for r in session.exec(select(ModelRoute).order_by(col(ModelRoute.priority), col(ModelRoute.id))):
            if r.model_id in names and r.provider_id in providers:
                models[names[r.model_id]].append(
                    RouteEntry(providers[r.provider_id], r.upstream_model, r.priority, r.weight)
                )
        return cls(
            providers,
            {p.name: p for p in providers.values()},
            {pid: tuple(ks) for pid, ks in keys.items()},
            {name: tuple(routes) for name, routes in models.items()},
        )

    def resolve(self, requested: str) -> tuple[RouteEntry, ...] | None:
        """A logical model's routes, or the single route of a concrete ``provider/model`` name."""
        routes = self.models.get(requested)
        if routes is not None:
            return routes
        provider_name, sep, model = requested.partition("/")
        provider = self.providers_by_name.get(provider_name)
        if not sep or not model or provider is None:
            return None
        return (RouteEntry(provider, model),)

    def concrete_models(self) -> list[str]:
        """Every ``provider/model`` pair that some logical model routes to."""
        seen = {f"{r.provider.name}/{r.upstream_model}" for routes in self.models.values() for r in routes}
        return sorted(seen)

    def keys_for(self, provider_id: int) -> tuple[KeyEntry, ...]:
        return self.keys_by_provider.get(provider_id, ())
