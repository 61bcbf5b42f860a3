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

from app import sessions
from app.runtime import get_hub
from app.sessions import Lifetimes, begin_url, session_alive
from services.accounts.sessions import SessionUser, any_user_exists, load_session_user
from services.cluster import Cluster

SIGN_OUT_PATH = sessions.END_PATH  # a page sends the browser here to sign out (a new session id, then /login)
PUBLIC_PREFIXES = ("/_session/", "/login", "/setup", "/register", "/invite/", "/_nicegui", "/static", "/favicon")


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
    """The signed-in user of this request or page, re-read from the database, while the session lives."""
    storage = app.storage.user
    if not session_alive(storage):
        return None
    return load_session_user(get_hub().engine, storage.get("user_id"), storage.get("epoch"))


def sign_in_url(user_id: int, epoch: int, target: str = "/") -> str:
    """Where a page sends the browser to sign it in: under a new session id (``app.sessions``), then to ``target``."""
    return begin_url(user_id, epoch, target)


def keep_signed_in(epoch: int) -> None:
    """After this user's own password change (which bumps the epoch): this session stays signed in."""
    app.storage.user["epoch"] = epoch


def install(lifetimes: Lifetimes, cluster: Cluster | None = None) -> None:
    app.add_middleware(ConsoleAuthMiddleware)
    sessions.install(lifetimes, cluster)
