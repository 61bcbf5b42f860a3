"""Pieces shared by the account pages: the signed-out card layout, form fields and error line,
and who is acting from which address (for the audit log)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypedDict

from nicegui import ui

from app.auth import sign_in_url
from services.accounts.audit import Actor
from services.accounts.sessions import SessionUser
from services.accounts.views import SignedIn
from services.errors import RequestError

PRIMARY = "#4f46e5"


def client_ip() -> str | None:
    """The browser's address as the server sees it (behind a proxy: run uvicorn with proxy headers)."""
    return ui.context.client.ip or None


def acting(user: SessionUser) -> Actor:
    return Actor(user.id, user.email, client_ip())


def problem_text(error: RequestError) -> str:
    """A service error as a sentence for the person at the form."""
    return error.message[:1].upper() + error.message[1:]


@contextmanager
def auth_card(title: str, subtitle: str | None = None) -> Iterator[ui.card]:
    """The signed-out pages: the product name over one centred card. Dark mode follows the browser."""
    ui.dark_mode(None)
    ui.colors(primary=PRIMARY)
    ui.query(".nicegui-content").classes("p-0")
    with ui.column().classes("w-full min-h-screen items-center justify-center gap-4 px-4 py-10 bg-slate-50 dark:bg-neutral-900"):
        with ui.row().classes("items-center gap-2"):
            ui.icon("hub", size="36px").classes("text-primary")
            ui.label("LLM Hub").classes("text-2xl font-bold tracking-tight")
        with ui.card().classes("w-full max-w-sm p-6 gap-4") as card:
            with ui.column().classes("gap-1"):
                ui.label(title).classes("text-xl font-semibold")
                if subtitle:
                    ui.label(subtitle).classes("text-grey-7")
            yield card


class FormError(ui.label):
    """One line above a form's button that says what went wrong (hidden while all is well)."""

    def __init__(self) -> None:
        super().__init__()
        self.classes("text-negative text-sm").props("role=alert data-testid=form-error")
        self.visible = False

    def show(self, message: str | RequestError) -> None:
        self.text = problem_text(message) if isinstance(message, RequestError) else message
        self.visible = True

    def hide(self) -> None:
        self.visible = False

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Hide the line and run the block; a RequestError raised in it ends the block and is shown
        here instead (so the block's remaining steps, e.g. closing a dialog, only run on success)."""
        self.hide()
        try:
            yield
        except RequestError as exc:
            self.show(exc)


def text_field(label: str, *, value: str = "", autocomplete: str = "off", readonly: bool = False) -> ui.input:
    field = ui.input(label, value=value).props(f"outlined autocomplete={autocomplete}").classes("w-full")
    if readonly:
        field.props("readonly")
    return field


def password_field(label: str, *, autocomplete: str = "new-password") -> ui.input:
    return ui.input(label, password=True).props(f"outlined autocomplete={autocomplete}").classes("w-full")


class AccountArgs(TypedDict):
    """The keyword arguments the account services take from an ``AccountFields`` form."""

    name: str
    password: str
    confirm: str
    ip: str | None


@dataclass(frozen=True, slots=True)
class AccountFields:
    """Email, name, password and its confirmation: the fields of setup, registration and invites."""

    email: ui.input
    name: ui.input
    password: ui.input
    confirm: ui.input

    @classmethod
    def build(cls, *, email: str | None = None) -> AccountFields:
        """``email`` given: it is fixed (an invite names it) and shown read-only."""
        email_field = text_field("Email", value=email or "", autocomplete="email", readonly=email is not None)
        return cls(
            email_field,
            text_field("Name", autocomplete="name"),
            password_field("Password"),
            password_field("Confirm password"),
        )

    def on_enter(self, handler: Callable[..., Any]) -> None:
        for field in (self.email, self.name, self.password, self.confirm):
            field.on("keydown.enter", handler)

    def account_args(self) -> AccountArgs:
        """The keyword arguments the account services take from this form: name, password, confirmation
        and the browser's address. The email is left to the caller, since an invite fixes it."""
        return {"name": self.name.value, "password": self.password.value, "confirm": self.confirm.value, "ip": client_ip()}


def start_session(signed_in: SignedIn, target: str = "/") -> None:
    """Sign the browser in as ``signed_in`` and go to ``target``."""
    ui.navigate.to(sign_in_url(signed_in.user_id, signed_in.epoch, target))
