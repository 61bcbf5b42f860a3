"""Signing up without an admin at hand: open registration (approved later) and invite links."""

from __future__ import annotations

from nicegui import run, ui

from app.auth import sign_in
from app.runtime import get_hub
from components.account_ui import AccountFields, FormError, auth_card, client_ip
from services.accounts import INVITE_INVALID
from services.catalog import CatalogError


def _back_to_sign_in() -> None:
    ui.link("Back to sign in", "/login").classes("text-primary text-sm self-center")


@ui.page("/register", title="Register · LLM Hub")
async def register_page() -> None:
    accounts = get_hub().accounts
    if await run.io_bound(accounts.registration_mode) != "open":
        with auth_card("Registration is closed", "Ask an administrator to create an account for you or to send you an invite link."):
            _back_to_sign_in()
        return

    async def register() -> None:
        error.clear()
        try:
            await run.io_bound(
                accounts.register, email=fields.email.value, name=fields.name.value,
                password=fields.password.value, confirm=fields.confirm.value, ip=client_ip(),
            )
        except CatalogError as exc:
            error.show(exc)
            return
        form.visible, done.visible = False, True

    with auth_card("Create an account", "An administrator approves new accounts before they can sign in."):
        with ui.column().classes("w-full gap-4") as form:
            fields = AccountFields.build()
            fields.on_enter(register)
            error = FormError()
            ui.button("Register", on_click=register).classes("w-full")
        with ui.column().classes("w-full items-center gap-2").props("data-testid=register-done") as done:
            ui.icon("hourglass_top", size="40px").classes("text-primary")
            ui.label("Thanks! Your request is waiting for an administrator's approval.").classes("text-center")
            ui.label("You can sign in as soon as it is approved.").classes("text-grey-7 text-sm text-center")
        done.visible = False
        _back_to_sign_in()


@ui.page("/invite/{token}", title="Accept invite · LLM Hub")
async def invite_page(token: str) -> None:
    hub = get_hub()
    invite = await run.io_bound(hub.accounts.find_invite, token)
    if invite is None:
        with auth_card("Invite not valid", INVITE_INVALID):
            _back_to_sign_in()
        return

    async def accept() -> None:
        error.clear()
        try:
            signed_in = await run.io_bound(
                hub.accounts.accept_invite, raw=token, name=fields.name.value,
                password=fields.password.value, confirm=fields.confirm.value, ip=client_ip(),
            )
        except CatalogError as exc:
            error.show(exc)
            return
        hub.has_users = True
        sign_in(signed_in.user_id, signed_in.epoch)
        ui.navigate.to("/")

    with auth_card("You are invited", f"Choose your name and a password to join as {invite.role}."):
        fields = AccountFields.build(email=invite.email)
        fields.on_enter(accept)
        error = FormError()
        ui.button("Create account", on_click=accept).classes("w-full")
