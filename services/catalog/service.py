"""The catalog facade: providers, their keys, and the logical models routed over them.

This is the only code that writes those tables; the management API, the console and the YAML
config file all go through it. Every write is one transaction (nothing half-written), after which
``on_change`` (``Hub.reload_routing``) swaps in a fresh routing snapshot. Answers are public shapes:
a key's secret leaves this module only encrypted (into the database) or masked (``…abcd``).

Input models double as the management API's request bodies and the config file's item shapes, so
one set of rules validates all three doors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from services.accounts.audit import Actor, record_event
from services.catalog.inputs import (
    KeyCreate,
    KeyUpdate,
    ModelCreate,
    ModelPatch,
    ProviderCreate,
    ProviderUpdate,
    parse,
)
from services.catalog.views import KeyPublic, ModelPublic, ProviderPublic, key_public
from services.catalog.writes import CatalogSession
from services.crypto import SecretBox
from services.db import session_scope
from services.errors import CatalogError
from services.gateway.key_state import KeyStateStore
from services.tables import (
    LogicalModel,
    Provider,
    ProviderKey,
)

T = TypeVar("T")


class Catalog:
    """Catalog operations for the API, the console and the config file: each write is one transaction,
    takes the acting principal, and writes its audit event once committed."""

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

    def _audit(self, actor: Actor, action: str, target: str, **detail: Any) -> None:
        """The audit event of a committed change (never of one that failed or was rolled back)."""
        record_event(self.engine, actor, action, target, detail or None)

    def _audit_key(self, actor: Actor, action: str, key: KeyPublic, **detail: Any) -> None:
        self._audit(actor, action, f"{key.provider}/{key.label}", key_id=key.id, **detail)

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

    def create_provider(self, actor: Actor, data: ProviderCreate | Mapping[str, Any]) -> ProviderPublic:
        spec = parse(ProviderCreate, data)
        provider = self.get_provider(self._write(lambda cs: cs.create_provider(spec).name))
        self._audit(actor, "provider.create", provider.name, kind=provider.kind, base_url=provider.base_url,
                    options=provider.options, keys=len(provider.keys))
        return provider

    def update_provider(self, actor: Actor, name: str, data: ProviderUpdate | Mapping[str, Any]) -> ProviderPublic:
        spec = parse(ProviderUpdate, data)
        provider = self.get_provider(self._write(lambda cs: cs.update_provider(name, spec)[0].name))
        self._audit(actor, "provider.update", name, fields=sorted(spec.model_fields_set))
        return provider

    def delete_provider(self, actor: Actor, name: str) -> None:
        keys = len(self.get_provider(name).keys)
        self._write(lambda cs: cs.delete_provider(name))
        self._audit(actor, "provider.delete", name, keys=keys)

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

    def create_key(self, actor: Actor, provider: str, data: KeyCreate | Mapping[str, Any]) -> KeyPublic:
        spec = parse(KeyCreate, data)
        key = self.get_key(self._write(lambda cs: cs.add_key(cs.provider(provider), spec).id or 0))
        self._audit_key(actor, "key.create", key)
        return key

    def update_key(self, actor: Actor, key_id: int, data: KeyUpdate | Mapping[str, Any]) -> KeyPublic:
        spec = parse(KeyUpdate, data)
        self._write(lambda cs: cs.update_key(key_id, spec))
        key = self.get_key(key_id)
        self._audit_key(actor, "key.update", key, fields=sorted(spec.model_fields_set))
        return key

    def set_key_enabled(self, actor: Actor, key_id: int, enabled: bool) -> KeyPublic:
        self._write(lambda cs: cs.update_key(key_id, KeyUpdate(enabled=enabled)))
        key = self.get_key(key_id)
        self._audit_key(actor, "key.enable" if enabled else "key.disable", key)
        return key

    def rotate_key_secret(self, actor: Actor, key_id: int, secret: str) -> KeyPublic:
        self._write(lambda cs: cs.rotate_key_secret(key_id, secret))
        key = self.get_key(key_id)
        self._audit_key(actor, "key.rotate", key)
        return key

    def reset_key_health(self, actor: Actor, key_id: int) -> KeyPublic:
        """Clear cooldown, invalid/exhausted marks and failure counts (after the admin fixed it)."""
        self.get_key(key_id)
        self.states.reset_key(key_id)
        key = self.get_key(key_id)
        self._audit_key(actor, "key.reset", key)
        return key

    def force_cooldown(self, actor: Actor, key_id: int, seconds: float) -> KeyPublic:
        """Take a key out of rotation for ``seconds`` (e.g. while its provider has trouble)."""
        self.get_key(key_id)
        self.states.force_cooldown(key_id, seconds)
        key = self.get_key(key_id)
        self._audit_key(actor, "key.cooldown", key, seconds=seconds)
        return key

    def delete_key(self, actor: Actor, key_id: int) -> None:
        key = self.get_key(key_id)
        self._write(lambda cs: cs.delete_key(key_id))
        self._audit_key(actor, "key.delete", key)

    # -- logical models --------------------------------------------------------------------------

    def list_models(self) -> list[ModelPublic]:
        def read(cs: CatalogSession) -> list[ModelPublic]:
            names = cs.provider_names()
            return [cs.model_public(m, names) for m in cs.session.exec(select(LogicalModel).order_by(col(LogicalModel.name)))]

        return self._read(read)

    def get_model(self, name: str) -> ModelPublic:
        return self._read(lambda cs: cs.model_public(cs.model(name), cs.provider_names()))

    def create_model(self, actor: Actor, data: ModelCreate | Mapping[str, Any]) -> ModelPublic:
        spec = parse(ModelCreate, data)
        model = self.get_model(self._write(lambda cs: cs.create_model(spec).name))
        self._audit(actor, "model.create", model.name, routes=len(model.routes))
        return model

    def replace_model(self, actor: Actor, name: str, data: ModelCreate | Mapping[str, Any]) -> ModelPublic:
        spec = parse(ModelCreate, data)
        model = self.get_model(self._write(lambda cs: cs.replace_model(name, spec)[0].name))
        renamed = {"renamed_to": model.name} if model.name != name else {}
        self._audit(actor, "model.update", name, routes=len(model.routes), **renamed)
        return model

    def update_model(self, actor: Actor, name: str, data: ModelPatch | Mapping[str, Any]) -> ModelPublic:
        """Change some of a model's settings (``ModelPatch``); its routes stay as they are."""
        patch = parse(ModelPatch, data)
        self._write(lambda cs: cs.patch_model(name, patch))
        self._audit(actor, "model.update", name, fields=sorted(patch.model_fields_set))
        return self.get_model(name)

    def delete_model(self, actor: Actor, name: str) -> None:
        self._write(lambda cs: cs.delete_model(name))
        self._audit(actor, "model.delete", name)
