"""Signing up without an admin at hand: open registration (approved later) and invite links."""

from __future__ import annotations

from nicegui import ui

from app.runtime import get_hub
from components.account_ui import AccountFields, FormError, auth_card, start_session
from components.blocking import io_bound
from services.accounts.service import INVITE_INVALID


def _back_to_sign_in() -> None:
    ui.link("Back to sign in", "/login").classes("text-primary text-sm self-center")


@ui.page("/register", title="Register · LLM Hub")
async def register_page() -> None:
    accounts = get_hub().accounts
    if await io_bound(accounts.registration_mode) != "open":
        with auth_card("Registration is closed", "Ask an administrator to create an account for you or to send you an invite link."):
            _back_to_sign_in()
        return

    async def register() -> None:
        with error.guard():
            await io_bound(accounts.register, email=fields.email.value, **fields.account_args())
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
    invite = await io_bound(hub.accounts.find_invite, token)
    if invite is None:
        with auth_card("Invite not valid", INVITE_INVALID):
            _back_to_sign_in()
        return

    async def accept() -> None:
        with error.guard():
            signed_in = await io_bound(hub.accounts.accept_invite, raw=token, **fields.account_args())
            hub.has_users = True
            start_session(signed_in)

    with auth_card("You are invited", f"Choose your name and a password to join as {invite.role}."):
        fields = AccountFields.build(email=invite.email)
        fields.on_enter(accept)
        error = FormError()
        ui.button("Create account", on_click=accept).classes("w-full")
