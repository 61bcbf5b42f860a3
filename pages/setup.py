"""First run: while no account exists, create the administrator (who is then signed in)."""

from __future__ import annotations

from nicegui import run, ui

from app.auth import sign_in
from app.runtime import get_hub
from components.account_ui import AccountFields, FormError, auth_card, client_ip
from services.catalog import CatalogError


@ui.page("/setup", title="Set up · LLM Hub")
async def setup_page() -> None:
    hub = get_hub()
    if not await run.io_bound(hub.accounts.needs_setup):
        with auth_card("Setup is done", "An administrator account exists already."):
            ui.button("Go to sign in", on_click=lambda: ui.navigate.to("/login")).classes("w-full")
        return

    async def create() -> None:
        error.clear()
        try:
            signed_in = await run.io_bound(
                hub.accounts.create_first_admin, email=fields.email.value, name=fields.name.value,
                password=fields.password.value, confirm=fields.confirm.value, ip=client_ip(),
            )
        except CatalogError as exc:
            error.show(exc)
            return
        hub.has_users = True
        sign_in(signed_in.user_id, signed_in.epoch)
        ui.navigate.to("/")

    with auth_card("Welcome to LLM Hub", "Create the administrator account. You can add other people afterwards."):
        fields = AccountFields.build()
        fields.on_enter(create)
        error = FormError()
        ui.button("Create admin account", on_click=create).classes("w-full")
