"""Sign-in: e-mail and password, then (when the account has it) a two-factor code."""

from __future__ import annotations

from nicegui import ui

from app.auth import current_user
from app.runtime import get_hub
from components.account_ui import (
    FormError,
    auth_card,
    client_ip,
    password_field,
    start_session,
    text_field,
)
from components.blocking import io_bound
from services.accounts.views import SecondFactorNeeded, SignedIn
from services.errors import RequestError

SIGNED_OUT_PAGES = ("/login", "/setup", "/register", "/invite")


def safe_next(target: str | None) -> str:
    """Only a path on this site (no ``//host`` or ``/\\host`` tricks), and not a signed-out page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return "/" if target.startswith(SIGNED_OUT_PAGES) else target


@ui.page("/login", title="Sign in · LLM Hub")
async def login_page(next: str = "/") -> None:  # the query parameter's name shadows a builtin
    accounts = get_hub().accounts
    target = safe_next(next)
    if current_user() is not None:
        ui.navigate.to(target)
        return
    if await io_bound(accounts.needs_setup):
        ui.navigate.to("/setup")
        return
    registration_open = await io_bound(accounts.registration_mode) == "open"
    challenge: list[SecondFactorNeeded] = []

    async def check_password() -> None:
        error.hide()
        try:
            step = await io_bound(accounts.check_password, email=email.value, password=password.value, ip=client_ip())
        except RequestError as exc:
            password.value = ""
            error.show(exc)
            return
        if isinstance(step, SignedIn):
            start_session(step, target)
            return
        challenge[:] = [step]
        password_step.visible, code_step.visible = False, True
        code.run_method("focus")

    async def check_code() -> None:
        error.hide()
        try:
            start_session(await io_bound(accounts.check_second_factor, challenge[0], code.value, ip=client_ip()), target)
        except RequestError as exc:
            code.value = ""
            error.show(exc)

    def start_over() -> None:
        challenge.clear()
        error.hide()
        password.value = code.value = ""
        password_step.visible, code_step.visible = True, False

    with auth_card("Sign in"):
        error = FormError()
        with ui.column().classes("w-full gap-3") as password_step:
            email = text_field("Email", autocomplete="username").props("autofocus")
            password = password_field("Password", autocomplete="current-password")
            for field in (email, password):
                field.on("keydown.enter", check_password)
            ui.button("Sign in", on_click=check_password).classes("w-full")
            if registration_open:
                with ui.row().classes("w-full justify-center gap-1 text-sm"):
                    ui.label("No account yet?").classes("text-grey-7")
                    ui.link("Register", "/register").classes("text-primary")
        with ui.column().classes("w-full gap-3") as code_step:
            ui.label("Enter the 6-digit code from your authenticator app, or one of your recovery codes.").classes("text-grey-7 text-sm")
            code = text_field("Authentication code", autocomplete="one-time-code").props("inputmode=numeric")
            code.on("keydown.enter", check_code)
            ui.button("Verify", on_click=check_code).classes("w-full")
            ui.button("Use another account", on_click=start_over).props("flat no-caps color=grey-8").classes("w-full")
        code_step.visible = False
