"""Browser tests: Playwright (sync API) driving Debian's Chromium against LLM Hub subprocesses.

Page contract the console keeps for these tests:
- /setup: inputs labelled "Email", "Name", "Password", "Confirm password"; button "Create admin account".
- /login: inputs labelled "Email", "Password"; button "Sign in" (a 2FA step asks "Authentication code").
- the header's user menu is ``[data-testid=user-menu]`` with the item "Sign out".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
PATIENCE_MS = 15_000
"""How long an expectation waits for the page: generous, because CI machines are slower and busier than ours."""
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
ADMIN_ENV = {"LLMHUB_ADMIN_EMAIL": ADMIN_EMAIL, "LLMHUB_ADMIN_PASSWORD": ADMIN_PASSWORD}
"""For ``start_app(env=...)``: a Hub whose admin exists from the start (no setup page)."""


expect.set_options(timeout=PATIENCE_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: sync Playwright runs its own event loop on this thread, which must be gone
    before the asyncio tests of other modules start."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (the .ci/run script does this)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    tab = new_page(browser)
    yield tab
    tab.context.close()


@pytest.fixture
def admin_page(browser: Browser, hub_app: Any) -> Iterator[Page]:
    """The admin signed in to the test module's own ``hub_app`` (a module defines that fixture), in a fresh context."""
    page = signed_in_page(browser, hub_app.url)
    yield page
    page.context.close()


def new_page(browser: Browser, *, width: int = 1280, height: int = 900, dark: bool = False) -> Page:
    """A page in a fresh context (its own cookies): for a second user or another viewport. Its ``goto``
    and ``reload`` return once the page is connected (see ``connected``)."""
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme="dark" if dark else "light")
    context.set_default_timeout(PATIENCE_MS)
    tab = context.new_page()
    goto, reload = tab.goto, tab.reload

    def connected_goto(url: str, **options: Any) -> Response | None:
        response = goto(url, **options)
        connected(tab)
        return response

    def connected_reload(**options: Any) -> Response | None:
        response = reload(**options)
        connected(tab)
        return response

    tab.goto = connected_goto  # type: ignore[method-assign]
    tab.reload = connected_reload  # type: ignore[method-assign]
    return tab


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Saved under screenshots/ (git-ignored) for a person to look at; ``full_page=False`` for what the window
    shows (a side panel over a long page)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    expect(page.locator("[class*='-enter-active'], [class*='-leave-active']")).to_have_count(0)  # no dialog half faded in or out
    page.evaluate("window.scrollTo(0, 0)")  # a full-page picture of a scrolled page paints the fixed header mid-page
    page.screenshot(path=str(path), full_page=full_page)
    return path


def connected(page: Page) -> None:
    """Wait until the page's websocket is up. Before that NiceGUI holds each element's events in its own
    timer, so a value typed and a button clicked may reach the server in the wrong order."""
    page.wait_for_function("() => window.did_handshake === true")


def fill_account_form(page: Page, name: str, password: str, *, email: str | None = None) -> None:
    """The setup, invite and registration form: ``email`` is left as it is when not given (an invite fixes it)."""
    connected(page)
    if email is not None:
        page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)


def setup_admin(page: Page, url: str, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    page.goto(url + "/")
    expect(page).to_have_url(url + "/setup")
    connected(page)
    fill_account_form(page, "Ada Admin", password, email=email)
    page.get_by_role("button", name="Create admin account").click()
    expect(page).to_have_url(url + "/")


def submit_sign_in(page: Page, email: str, password: str) -> None:
    """Fill the sign-in form already on ``page`` and send it (what follows is the caller's to expect)."""
    connected(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def login(page: Page, url: str, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    page.goto(url + "/login")
    submit_sign_in(page, email, password)
    expect(page).not_to_have_url(url + "/login")


def signed_in_page(browser: Browser, url: str, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, **viewport: int) -> Page:
    """A fresh context (see ``new_page``; ``width``/``height`` as there) signed in as ``email``; the caller closes its context."""
    page = new_page(browser, **viewport)
    login(page, url, email, password)
    return page


def set_dark_mode(page: Page, dark: bool) -> None:
    """Dark mode is the person's setting (kept across sign-ins): switch it only when it differs."""
    connected(page)
    if (page.locator("body.body--dark").count() == 1) != dark:
        page.get_by_role("button", name="Toggle dark mode").click()
    expect(page.locator("body.body--dark")).to_have_count(1 if dark else 0)


def logout(page: Page, url: str) -> None:
    page.locator("[data-testid=user-menu]").click()
    page.get_by_text("Sign out").click()
    expect(page).to_have_url(url + "/login")
