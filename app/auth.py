"""Console sign-in gate, after NiceGUI's ``examples/authentication``.

Pages other than the public ones redirect to ``/login`` (or ``/setup`` while no user exists).
This only decides *whether* someone is signed in; each admin page still checks the role itself
(``components.frame.console_page``), so typing an admin URL never shows admin content.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from nicegui import app
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from app.runtime import get_hub
from services.accounts.sessions import SessionUser, any_user_exists, load_session_user

PUBLIC_PREFIXES = ("/login", "/setup", "/register", "/invite/", "/_nicegui", "/static", "/favicon")


class ConsoleAuthMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if path.startswith(PUBLIC_PREFIXES):
            return await call_next(request)
        hub = get_hub()
        if not hub.has_users:
            hub.has_users = any_user_exists(hub.engine)
            if not hub.has_users:
                return RedirectResponse("/setup")
        if current_user() is None:
            return RedirectResponse(f"/login?next={quote(path)}")
        return await call_next(request)


def current_user() -> SessionUser | None:
    """The signed-in user of this request or page, re-read from the database."""
    storage = app.storage.user
    return load_session_user(get_hub().engine, storage.get("user_id"), storage.get("epoch"))


def sign_in(user_id: int, epoch: int) -> None:
    app.storage.user.update({"user_id": user_id, "epoch": epoch})


def sign_out() -> None:
    app.storage.user.clear()


def install() -> None:
    app.add_middleware(ConsoleAuthMiddleware)
