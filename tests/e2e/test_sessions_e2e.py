"""Console sessions and headers in Chromium (issue #16, findings 8 and 9): a new session id at sign-in
and sign-out (a cookie from before sign-in opens nothing), the security headers on console pages with
no Content-Security-Policy complaint in the browser, and the console socket refusing other origins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import RunningApp
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_ENV, ADMIN_PASSWORD, logout, new_page, submit_sign_in
from tests.factories import hub_process

SESSION_COOKIE = "session"


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    folder: Path = tmp_path_factory.mktemp("sessions")
    with hub_process(folder, env=ADMIN_ENV) as app:
        yield app


def session_cookie(cookies: list[dict[str, object]]) -> str:
    return next(str(c["value"]) for c in cookies if c["name"] == SESSION_COOKIE)


def test_sign_in_and_sign_out_issue_new_session_ids(browser: Browser, hub_app: RunningApp) -> None:
    page = new_page(browser)
    csp_complaints: list[str] = []
    page.on("console", lambda message: csp_complaints.append(message.text) if "Content Security Policy" in message.text else None)
    page.goto(hub_app.url + "/login")
    before = session_cookie(page.context.cookies())
    submit_sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(page.get_by_test_id("user-menu")).to_be_visible()
    signed_in = session_cookie(page.context.cookies())
    assert signed_in != before, "the pre-sign-in session id was kept (session fixation)"

    with httpx.Client(base_url=hub_app.url, follow_redirects=False) as attacker:
        attacker.cookies.set(SESSION_COOKIE, before)
        replayed = attacker.get("/usage")
        assert replayed.status_code in (302, 307) and replayed.headers["location"].startswith("/login")
        attacker.cookies.set(SESSION_COOKIE, signed_in)
        assert attacker.get("/usage").status_code == 200  # the new id is the session

    page.goto(hub_app.url + "/usage")
    expect(page.get_by_test_id("user-menu")).to_be_visible()
    logout(page, hub_app.url)
    assert session_cookie(page.context.cookies()) != signed_in
    with httpx.Client(base_url=hub_app.url, follow_redirects=False) as attacker:
        attacker.cookies.set(SESSION_COOKIE, signed_in)
        assert attacker.get("/usage").status_code in (302, 307), "a signed-out session id still opens pages"
    assert csp_complaints == []
    page.context.close()


def test_console_pages_carry_the_security_headers(hub_app: RunningApp) -> None:
    answer = httpx.get(hub_app.url + "/login")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert "secure" not in answer.headers["set-cookie"].lower()  # plain HTTP from an untrusted address


def test_the_console_socket_refuses_another_origin(hub_app: RunningApp) -> None:
    handshake = "/_nicegui_ws/socket.io/?EIO=4&transport=polling"
    foreign = httpx.get(hub_app.url + handshake, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers
    own = httpx.get(hub_app.url + handshake, headers={"Origin": hub_app.url})
    assert own.status_code == 200
