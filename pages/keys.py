"""Providers and their keys: add, test, enable/disable, cool down, rotate, delete — with live status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.account_ui import acting
from components.blocking import io_bound
from components.catalog_forms import (
    open_cooldown_dialog,
    open_key_dialog,
    open_provider_dialog,
    open_secret_dialog,
)
from components.discovery_dialog import DiscoveryDialog
from components.frame import console_page
from components.key_table import KeyTable
from components.provider_table import ProviderTable
from components.secret_dialogs import confirm
from services.accounts.audit import Actor
from services.accounts.sessions import SessionUser
from services.catalog.discovery import AddedModels, add_as_models
from services.catalog.key_test import run_key_test
from services.catalog.views import KeyPublic, ProviderPublic
from services.errors import CatalogError
from services.hub import Hub
from services.usage.queries import KeyUsage, key_usage_since

STATUS_SECONDS = 2.0
RELOAD_EVERY = 15  # status ticks between full reloads (usage numbers, keys changed elsewhere)


def start_of_utc_day() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def load_catalog(hub: Hub) -> tuple[list[ProviderPublic], list[KeyPublic], dict[int, KeyUsage]]:
    providers = hub.catalog.list_providers()
    keys = [key for provider in providers for key in provider.keys]
    return providers, keys, key_usage_since(hub.engine, start_of_utc_day())


class KeysPage:
    def __init__(self, user: SessionUser) -> None:
        self.user = user
        self.hub = get_hub()
        self.providers: list[ProviderPublic] = []
        self.keys: dict[int, KeyPublic] = {}
        self.ticks = 0
        with ui.card().classes("w-full"):
            with ui.row().classes("w-full items-center"):
                ui.label("Providers").classes("text-lg font-medium")
                ui.space()
                ui.button("Add provider", icon="add", on_click=self.add_provider).props("no-caps color=primary")
            self.provider_table = ProviderTable(on_add_key=self.add_key, on_delete=self.delete_provider, on_discover=self.discover)
        with ui.card().classes("w-full"):
            with ui.row().classes("w-full items-center"):
                ui.label("Keys").classes("text-lg font-medium")
                ui.label("Requests and spend since 00:00 UTC").classes("text-xs text-grey-7")
                ui.space()
                ui.button("Add key", icon="add", on_click=lambda: self.add_key(None)).props("no-caps outline color=primary")
            self.key_table = KeyTable(
                self.hub.states,
                on_action={"test": self.test_key, "cooldown": self.cool_key, "rotate": self.rotate_key,
                           "reset": self.reset_key, "delete": self.delete_key},
                on_toggle=self.toggle_key,
            )
        ui.timer(STATUS_SECONDS, self.tick)

    # -- data --------------------------------------------------------------------------------------

    async def reload(self) -> None:
        loaded = await io_bound(load_catalog, self.hub)
        self.providers, keys, usage = loaded
        self.keys = {key.id: key for key in keys}
        self.provider_table.show(self.providers)
        self.key_table.show(keys, usage)

    async def tick(self) -> None:
        self.ticks += 1
        if self.ticks % RELOAD_EVERY == 0:
            await self.reload()
        else:
            self.key_table.refresh_status()

    async def act(self, change: Callable[[Actor], object]) -> None:
        """Run a catalog change (which audits itself) off the event loop, then refresh; a CatalogError
        is notified."""
        actor = acting(self.user)
        try:
            await io_bound(change, actor)
        except CatalogError as error:
            ui.notify(error.message, type="negative")
            return
        await self.reload()

    def key_name(self, key_id: int) -> str:
        key = self.keys.get(key_id)
        return f"{key.provider}/{key.label}" if key else f"key {key_id}"

    # -- providers ---------------------------------------------------------------------------------

    async def add_provider(self) -> None:
        async def submit(data: dict[str, Any]) -> None:
            provider = await io_bound(self.hub.catalog.create_provider, acting(self.user), data)
            await self.reload()
            ui.notify(f"Provider {provider.name} added — now add its keys", type="positive")
            await self.add_key(provider.name)

        open_provider_dialog(submit)

    async def delete_provider(self, name: str) -> None:
        provider = next((p for p in self.providers if p.name == name), None)
        count = len(provider.keys) if provider else 0
        question = f"This deletes its {count} key(s) and every route to it. Usage history stays."
        if await confirm(f"Delete provider {name}?", question, action="Delete"):
            await self.act(lambda actor: self.hub.catalog.delete_provider(actor, name))

    # -- keys --------------------------------------------------------------------------------------

    async def add_key(self, provider: str | None) -> None:
        if not self.providers:
            ui.notify("Add a provider first", type="warning")
            return

        async def submit(data: dict[str, Any]) -> None:
            name = data.pop("provider")
            first_key = not next((p.keys for p in self.providers if p.name == name), [])
            key = await io_bound(self.hub.catalog.create_key, acting(self.user), name, data)
            await self.reload()
            ui.notify(f"Key {key.label} added to {key.provider}", type="positive")
            if first_key:  # a new provider: offer its models straight away
                await self.discover(name, intro="Tick the ones clients should call; each becomes a model of its own.")

        open_key_dialog([p.name for p in self.providers], submit, provider=provider)

    async def discover(self, provider: str, intro: str | None = None) -> None:
        """The provider's models, and one-click "add these as models"."""
        models = await io_bound(self.hub.catalog.list_models)
        used_by: dict[str, list[str]] = {}
        for model in models:
            for route in model.routes:
                if route.provider == provider:
                    used_by.setdefault(route.model, []).append(model.name)

        async def add(upstream_models: list[str]) -> AddedModels:
            return await io_bound(add_as_models, self.hub.catalog, acting(self.user), provider, upstream_models)

        dialog = DiscoveryDialog(provider, lambda refresh: self.hub.discovery.fetch(provider, refresh=refresh), add,
                                 taken={model.name for model in models}, used_by=used_by, intro=intro)
        await dialog.open()

    async def toggle_key(self, key_id: int, enabled: bool) -> None:
        await self.act(lambda actor: self.hub.catalog.set_key_enabled(actor, key_id, enabled))

    async def test_key(self, key_id: int) -> None:
        self.key_table.set_testing(key_id, True)
        try:
            result = await run_key_test(self.hub, acting(self.user), key_id)
        except CatalogError as error:
            ui.notify(error.message, type="negative")
            return
        finally:
            self.key_table.set_testing(key_id, False)
        self.key_table.tests[key_id] = result
        ui.notify(f"{self.key_name(key_id)}: {result.summary}", type="positive" if result.ok else "negative", multi_line=True)
        await self.reload()

    async def cool_key(self, key_id: int) -> None:
        async def submit(seconds: float) -> None:
            await self.act(lambda actor: self.hub.catalog.force_cooldown(actor, key_id, seconds))

        open_cooldown_dialog(f"Cool down {self.key_name(key_id)}", submit)

    async def reset_key(self, key_id: int) -> None:
        await self.act(lambda actor: self.hub.catalog.reset_key_health(actor, key_id))

    async def rotate_key(self, key_id: int) -> None:
        async def submit(secret: str) -> None:
            await io_bound(self.hub.catalog.rotate_key_secret, acting(self.user), key_id, secret)  # CatalogError stays in the dialog
            self.key_table.tests.pop(key_id, None)
            await self.reload()
            ui.notify(f"Secret of {self.key_name(key_id)} replaced", type="positive")

        open_secret_dialog(f"Rotate {self.key_name(key_id)}", submit)

    async def delete_key(self, key_id: int) -> None:
        name = self.key_name(key_id)
        if await confirm(f"Delete key {name}?", "The key stops serving at once. Its usage history stays.", action="Delete"):
            await self.act(lambda actor: self.hub.catalog.delete_key(actor, key_id))


@console_page("/keys", "Keys", icon="key", admin=True, order=30)
async def keys_page(user: SessionUser) -> None:
    page = KeysPage(user)
    await page.reload()
