"""Catalog reads and writes on one open database session (``CatalogSession``).

The facade (``services.catalog.service.Catalog``) opens one per transaction; the config importer
opens one for a whole file. In-memory follow-ups (forgetting or resetting a key's health) wait in
``after_commit`` until the transaction is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from sqlmodel import Session, col, delete, select

from services.cache.policy import settings_of, stored_form
from services.catalog.inputs import (
    KeyCreate,
    KeyUpdate,
    ModelCreate,
    ModelPatch,
    ProviderCreate,
    ProviderUpdate,
    clean_secret,
    usd_to_micros,
)
from services.catalog.routes import WantedRoute, aliases_of, rename_key_in_routes, route_public, route_values, save_aliases, save_routes
from services.catalog.views import ModelPublic, ProviderPublic, key_public
from services.clock import utcnow
from services.crypto import SecretBox, mask_secret
from services.errors import CatalogError
from services.gateway.adapters import resolve_base_url
from services.gateway.adapters.cloud_options import options_problem
from services.gateway.key_state import KeyStateStore
from services.gateway.routing_table import KEYLESS_KINDS
from services.tables import (
    DeploymentState,
    KeyState,
    LogicalModel,
    ModelAlias,
    ModelRoute,
    Provider,
    ProviderCircuit,
    ProviderKey,
    RouteState,
)

Change = Literal["created", "updated", "unchanged"]


def _last4(secret: str) -> str:
    """What may be stored in clear: the part of the secret that ``mask_secret`` shows."""
    return mask_secret(secret).removeprefix("…")


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


def _model_values(data: ModelCreate) -> dict[str, Any]:
    return {
        "description": data.description, "enabled": data.enabled, "num_retries": data.num_retries,
        "timeout_seconds": data.timeout, "stream_timeout_seconds": data.stream_timeout, "drop_params": data.drop_params,
        "cache": stored_form(data.cache),
    }


def _patched_values(patch: ModelPatch) -> dict[str, tuple[str, Any]]:
    """Each patchable field's column and value."""
    return {
        "description": ("description", patch.description), "enabled": ("enabled", patch.enabled),
        "num_retries": ("num_retries", patch.num_retries), "timeout": ("timeout_seconds", patch.timeout),
        "stream_timeout": ("stream_timeout_seconds", patch.stream_timeout), "drop_params": ("drop_params", patch.drop_params),
        "cache": ("cache", stored_form(patch.cache)),
    }


def _require_base_url(provider: Provider) -> None:
    """A provider's settings fit its kind: a base URL where the kind has no default, only its own options."""
    if provider.kind in ("openai_compatible", "azure") and not provider.base_url:
        raise CatalogError(f"an {provider.kind} provider needs a base_url", field="base_url")
    if (problem := options_problem(provider.kind, provider.options)) is not None:
        raise CatalogError(problem[1], field=problem[0])


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

    def _free_model_name(self, name: str, owner: int | None = None, *, field: str = "name") -> None:
        """Refuse a model name or alias already taken by another model (``owner`` may keep its own)."""
        model = self.find_model(name)
        if model is not None and model.id != owner:
            raise CatalogError(f"a model named {name!r} already exists", field=field, status=409)
        alias = self.session.exec(select(ModelAlias).where(ModelAlias.name == name)).first()
        if alias is not None and alias.model_id != owner:
            raise CatalogError(f"{name!r} is already an alias of another model", field=field, status=409)

    # -- providers -------------------------------------------------------------------------------

    def create_provider(self, data: ProviderCreate) -> Provider:
        self._free_provider_name(data.name)
        provider = Provider(name=data.name, kind=data.kind, base_url=data.base_url, options=data.options or None, enabled=data.enabled)
        _require_base_url(provider)
        self.session.add(provider)
        self.session.flush()
        for key in data.keys:
            self.add_key(provider, key)
        return provider

    def update_provider(self, name: str, data: ProviderUpdate) -> tuple[Provider, bool]:
        provider = self.provider(name)
        values = data.model_dump(exclude_unset=True)
        if "options" in values:
            values["options"] = values["options"] or None
        if values.get("name", provider.name) != provider.name:
            self._free_provider_name(values["name"])
        changed = _assign(provider, values)
        _require_base_url(provider)
        return provider, changed

    def upsert_provider(self, data: ProviderCreate) -> tuple[Provider, Change]:
        """Bring the provider named ``data.name`` to ``data`` (its keys are upserted separately)."""
        if self.find_provider(data.name) is None:
            return self.create_provider(data.model_copy(update={"keys": []})), "created"
        update = ProviderUpdate(kind=data.kind, base_url=data.base_url, options=data.options, enabled=data.enabled)
        provider, changed = self.update_provider(data.name, update)
        return provider, "updated" if changed else "unchanged"

    def delete_provider(self, name: str) -> None:
        """Delete a provider with its keys, their health, its circuit and every route to it."""
        provider = self.provider(name)
        provider_id = provider.id or 0
        key_ids = [k.id or 0 for k in self.keys_of(provider_id)]
        route_ids = {r.id or 0 for r in self.session.exec(select(ModelRoute).where(ModelRoute.provider_id == provider_id))}
        self.session.exec(delete(RouteState).where(col(RouteState.route_id).in_(route_ids)))
        self.session.exec(delete(ModelRoute).where(col(ModelRoute.provider_id) == provider_id))
        self._delete_key_state(key_ids)
        self.session.exec(delete(ProviderKey).where(col(ProviderKey.provider_id) == provider_id))
        self.session.exec(delete(ProviderCircuit).where(col(ProviderCircuit.provider_id) == provider_id))
        self.session.delete(provider)
        self.after_commit.append(lambda states: states.forget(key_ids, provider_id))
        self.after_commit.append(lambda states: states.forget_routes(route_ids))

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
            rename_key_in_routes(self.session, key.provider_id, key.label, values["label"])
        return key, _assign(key, values)

    def _delete_key_state(self, key_ids: list[int]) -> None:
        for table in (KeyState, DeploymentState, RouteState):
            self.session.exec(delete(table).where(col(table.key_id).in_(key_ids)))

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
        self._delete_key_state([key_id])
        self.session.delete(key)
        self.after_commit.append(lambda states: states.forget([key_id]))

    # -- logical models --------------------------------------------------------------------------

    def create_model(self, data: ModelCreate) -> LogicalModel:
        self._free_model_name(data.name)
        model = LogicalModel(name=data.name, **_model_values(data))
        self.session.add(model)
        self.session.flush()
        self._set_routes(model, data)
        self._set_aliases(model, data)
        return model

    def replace_model(self, name: str, data: ModelCreate) -> tuple[LogicalModel, bool]:
        """Give the model exactly ``data``: its fields (a new name renames it), aliases and route list."""
        model = self.model(name)
        if data.name != model.name:
            self._free_model_name(data.name, model.id)
        changed = _assign(model, {"name": data.name, **_model_values(data)})
        if self._set_routes(model, data) | self._set_aliases(model, data):
            model.updated_at = utcnow()
            changed = True
        return model, changed

    def patch_model(self, name: str, patch: ModelPatch) -> bool:
        """Change the model's settings that ``patch`` sends; whether anything changed."""
        model = self.model(name)
        sent = patch.model_fields_set
        values = {column: value for field, (column, value) in _patched_values(patch).items() if field in sent}
        changed = _assign(model, values)
        if patch.aliases is not None:
            if name in patch.aliases:
                raise CatalogError("aliases: a model's alias cannot be its own name", field="aliases")
            for alias in patch.aliases:
                self._free_model_name(alias, model.id, field="aliases")
            if save_aliases(self.session, model.id or 0, patch.aliases):
                model.updated_at = utcnow()
                changed = True
        return changed

    def upsert_model(self, data: ModelCreate) -> Change:
        if self.find_model(data.name) is None:
            self.create_model(data)
            return "created"
        return "updated" if self.replace_model(data.name, data)[1] else "unchanged"

    def delete_model(self, name: str) -> None:
        model = self.model(name)
        route_ids = {r.id or 0 for r in self.routes_of(model.id or 0)}
        self.session.exec(delete(RouteState).where(col(RouteState.route_id).in_(route_ids)))
        self.session.exec(delete(ModelRoute).where(col(ModelRoute.model_id) == model.id))
        self.session.exec(delete(ModelAlias).where(col(ModelAlias.model_id) == model.id))
        self.session.delete(model)
        self.after_commit.append(lambda states: states.forget_routes(route_ids))

    def _set_routes(self, model: LogicalModel, data: ModelCreate) -> bool:
        """Give the model exactly ``data``'s routes (ordered by priority, then as given); routes it
        already has keep their ids and their limit counters."""
        wanted: list[WantedRoute] = []
        for index, route in enumerate(data.routes):
            provider = self.find_provider(route.provider)
            if provider is None:
                raise CatalogError(f"no provider named {route.provider!r}", field=f"routes[{index}].provider")
            self._require_labels(provider, route.keys, index)
            wanted.append((route_values(route, provider.id or 0), route.headers))
        wanted.sort(key=lambda pair: pair[0]["priority"])
        changed, deleted = save_routes(self.session, self.box, model.id or 0, wanted)
        if deleted:
            self.after_commit.append(lambda states: states.forget_routes(deleted))
        return changed

    def _require_labels(self, provider: Provider, labels: list[str] | None, index: int) -> None:
        known = {k.label for k in self.keys_of(provider.id or 0)}
        unknown = sorted(set(labels or ()) - known)
        if unknown:
            raise CatalogError(f"{provider.name} has no key labelled {', '.join(map(repr, unknown))}", field=f"routes[{index}].keys")

    def _set_aliases(self, model: LogicalModel, data: ModelCreate) -> bool:
        for alias in data.aliases:
            self._free_model_name(alias, model.id, field="aliases")
        return save_aliases(self.session, model.id or 0, data.aliases)

    # -- public shapes ---------------------------------------------------------------------------

    def provider_public(self, provider: Provider, states: KeyStateStore) -> ProviderPublic:
        keys = [key_public(k, provider.name, states) for k in self.keys_of(provider.id or 0)]
        return ProviderPublic(
            id=provider.id or 0, name=provider.name, kind=provider.kind, base_url=provider.base_url, options=provider.options or {},
            effective_base_url=resolve_base_url(provider.kind, provider.base_url, provider.options), enabled=provider.enabled, keys=keys,
            keyless=provider.kind in KEYLESS_KINDS and not keys, created_at=provider.created_at, updated_at=provider.updated_at,
        )

    def model_public(self, model: LogicalModel, provider_names: Mapping[int, str]) -> ModelPublic:
        routes = [route_public(r, provider_names[r.provider_id], self.box) for r in self.routes_of(model.id or 0)]
        return ModelPublic(
            id=model.id or 0, name=model.name, description=model.description, enabled=model.enabled,
            aliases=aliases_of(self.session, model.id or 0), num_retries=model.num_retries, timeout=model.timeout_seconds,
            stream_timeout=model.stream_timeout_seconds, drop_params=model.drop_params, cache=settings_of(model.cache),
            routes=routes, created_at=model.created_at,
            updated_at=model.updated_at,
        )

    def provider_names(self) -> dict[int, str]:
        return {p.id or 0: p.name for p in self.session.exec(select(Provider))}
