"""First run: while no account exists, create the administrator (who is then signed in)."""

from __future__ import annotations

from nicegui import ui

from app.runtime import get_hub
from components.account_ui import AccountFields, FormError, auth_card, start_session
from components.blocking import io_bound


@ui.page("/setup", title="Set up · LLM Hub")
async def setup_page() -> None:
    hub = get_hub()
    if not await io_bound(hub.accounts.needs_setup):
        with auth_card("Setup is done", "An administrator account exists already."):
            ui.button("Go to sign in").props("href=/login").classes("w-full")
        return

    async def create() -> None:
        with error.guard():
            signed_in = await io_bound(hub.accounts.create_first_admin, email=fields.email.value, **fields.account_args())
            hub.has_users = True
            start_session(signed_in)

    with auth_card("Welcome to LLM Hub", "Create the administrator account. You can add other people afterwards."):
        fields = AccountFields.build()
        fields.on_enter(create)
        error = FormError()
        ui.button("Create admin account", on_click=create).classes("w-full")
