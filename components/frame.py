"""The console's page frame, after NiceGUI's ``examples/modularization``.

``console_page`` registers a page, checks sign-in and role on the server, draws the header and
navigation, and runs the page body inside the content column. The navigation is built from the
registered pages, filtered by the user's role.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any

from nicegui import ui

from app.auth import current_user, sign_out
from app.runtime import get_hub
from components.blocking import io_bound
from services.accounts.sessions import SessionUser, set_dark_mode


@dataclass(frozen=True, slots=True)
class NavItem:
    path: str
    label: str
    icon: str
    admin: bool
    order: int


NAV: list[NavItem] = []


def console_page(
    path: str, title: str, *, icon: str = "circle", admin: bool = False, nav: bool = True, order: int = 50
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a signed-in console page; ``admin=True`` pages answer "not allowed" to others."""
    if nav:
        NAV.append(NavItem(path, title, icon, admin, order))
        NAV.sort(key=lambda item: item.order)

    def decorator(build: Callable[..., Any]) -> Callable[..., Any]:
        @ui.page(path, title=f"{title} · LLM Hub")
        @_without_user_parameter
        @wraps(build)
        async def page(*args: Any, **kwargs: Any) -> None:
            user = current_user()
            if user is None:
                ui.navigate.to(f"/login?next={path}")
                return
            with frame(title, user, path):
                if admin and not user.is_admin:
                    not_allowed()
                    return
                result = build(user, *args, **kwargs)
                if hasattr(result, "__await__"):
                    await result

        return page

    return decorator


def _without_user_parameter(page: Callable[..., Any]) -> Callable[..., Any]:
    """The route's signature is the body's minus its ``user``, which the frame passes in (not the request)."""
    signature = inspect.signature(page)
    page.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
    return page


def not_allowed() -> None:
    with ui.card().classes("mx-auto mt-12 items-center p-8").props("data-testid=not-allowed"):
        ui.icon("block", size="48px").classes("text-negative")
        ui.label("Not allowed").classes("text-xl font-semibold")
        ui.label("This page is for administrators. Ask an admin if you need access.").classes("text-grey-7")
        ui.button("Back to the console", on_click=lambda: ui.navigate.to("/")).props("flat")


@contextmanager
def frame(title: str, user: SessionUser, active_path: str) -> Iterator[ui.column]:
    """Header with the user menu, a navigation drawer (always open from 1024 px, a toggle below)."""
    dark = ui.dark_mode(user.dark_mode)
    ui.colors(primary="#4f46e5")
    items = [item for item in NAV if user.is_admin or not item.admin]
    with ui.header(elevated=False).classes("items-center gap-2 px-3 py-1 bg-primary text-white"):
        drawer_toggle = ui.button(icon="menu").props("flat round dense color=white aria-label='Navigation'").classes("lg:hidden")
        with ui.link(target="/").classes("no-underline text-white flex items-center gap-2"):
            ui.icon("hub", size="26px")
            ui.label("LLM Hub").classes("text-lg font-bold tracking-tight")
        ui.space()
        _user_menu(user, dark)
    # value=False: without it NiceGUI asks the browser for the drawer's state after connecting, and the
    # answer re-renders the page, closing any menu the user has just opened. show-if-above opens it on wide screens.
    with ui.left_drawer(value=False, bordered=True).props("show-if-above :width=210 :breakpoint=1023").classes("q-pa-sm") as drawer:
        for item in items:
            _nav_link(item, active_path)
    drawer_toggle.on_click(drawer.toggle)
    with ui.column().classes("w-full max-w-screen-2xl mx-auto p-4 max-sm:p-2 gap-4") as content:
        ui.label(title).classes("text-2xl font-semibold")
        yield content


def _nav_link(item: NavItem, active_path: str) -> None:
    active = item.path == active_path
    button = ui.button(item.label, icon=item.icon, on_click=lambda p=item.path: ui.navigate.to(p))
    button.props(f"flat no-caps align=left {'color=primary' if active else 'color=grey-7'}").classes("w-full")
    if active:
        button.classes("font-semibold").style("background: rgba(79, 70, 229, 0.12)")


def _user_menu(user: SessionUser, dark: ui.dark_mode) -> None:
    async def toggle_dark() -> None:
        dark.toggle()
        await io_bound(set_dark_mode, get_hub().engine, user.id, bool(dark.value))

    def logout() -> None:
        sign_out()
        ui.navigate.to("/login")

    ui.button(icon="dark_mode", on_click=toggle_dark).props("flat round dense color=white aria-label='Toggle dark mode'")
    user_button = ui.button(user.display_name, icon="account_circle").props("flat no-caps color=white data-testid=user-menu")
    user_button.classes("max-sm:max-w-[9rem] ellipsis")
    with user_button, ui.menu():
        ui.menu_item(f"{user.email} · {user.role}").props("disable")
        ui.menu_item("Profile", on_click=lambda: ui.navigate.to("/profile"))
        ui.menu_item("Sign out", on_click=logout).props("data-testid=sign-out")
