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
from urllib.parse import quote

from nicegui import ui

from app.auth import SIGN_OUT_PATH, current_user
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
                ui.navigate.to(f"/login?next={quote(_requested_url(path), safe='/')}")
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


def _requested_url(path: str) -> str:
    """The page's path with its query string, so a shared link (``/compare?conversation=7``) survives the sign-in."""
    request = ui.context.client.request
    query = request.url.query if request is not None else ""
    return f"{path}?{query}" if query else path


def not_allowed() -> None:
    with ui.card().classes("mx-auto mt-12 items-center p-8").props("data-testid=not-allowed"):
        ui.icon("block", size="48px").classes("text-negative")
        ui.label("Not allowed").classes("text-xl font-semibold")
        ui.label("This page is for administrators. Ask an admin if you need access.").classes("text-grey-7")
        ui.button("Back to the console").props("flat href=/")


@contextmanager
def frame(title: str, user: SessionUser, active_path: str) -> Iterator[ui.column]:
    """Header with the user menu, a navigation drawer (always open from 1024 px, a toggle below)."""
    dark = ui.dark_mode(user.dark_mode)
    ui.colors(primary="#4f46e5")
    ui.add_css(LINKS_CSS)
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


LINKS_CSS = (
    ".nicegui-markdown a, a.nicegui-link:not(.nav-link) { color: #4f46e5; } "
    ".body--dark .nicegui-markdown a, .body--dark a.nicegui-link:not(.nav-link) { color: #a5b4fc; }"
)
"""Links in text in the console's indigo, lighter on the dark background (the primary indigo is too dark there)."""
NAV_LINK = (
    "nav-link w-full flex items-center gap-3 px-3 py-2 rounded no-underline text-sm font-medium "
    "text-slate-600 dark:text-slate-300 hover:bg-slate-100 dark:hover:bg-slate-800"
)
ACTIVE_NAV_LINK = "text-indigo-600 dark:text-indigo-300 font-semibold bg-indigo-50 dark:bg-indigo-950"


def _nav_link(item: NavItem, active_path: str) -> None:
    """A real link (middle-click, Ctrl+click and "copy link" work); the current page is marked for
    the eye and for screen readers (``aria-current``)."""
    with ui.link(target=item.path).classes(NAV_LINK).props(f"data-testid=nav-{item.path.strip('/') or 'home'}") as link:
        ui.icon(item.icon, size="20px")
        ui.label(item.label)
    if item.path == active_path:
        link.classes(ACTIVE_NAV_LINK).props('aria-current="page"')


def _user_menu(user: SessionUser, dark: ui.dark_mode) -> None:
    async def toggle_dark() -> None:
        dark.toggle()
        await io_bound(set_dark_mode, get_hub().engine, user.id, bool(dark.value))

    def logout() -> None:
        ui.navigate.to(SIGN_OUT_PATH)

    ui.button(icon="dark_mode", on_click=toggle_dark).props("flat round dense color=white aria-label='Toggle dark mode'")
    user_button = ui.button(user.display_name, icon="account_circle").props("flat no-caps color=white data-testid=user-menu")
    user_button.classes("max-sm:max-w-[9rem] ellipsis")
    with user_button, ui.menu():
        ui.menu_item(f"{user.email} · {user.role}").props("disable")
        ui.item("Profile").props("clickable href=/profile")
        ui.menu_item("Sign out", on_click=logout).props("data-testid=sign-out")
