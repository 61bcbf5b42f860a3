"""Accounts in a real browser: first-run setup, sign-in and its throttle, users and roles, personal
tokens, two-factor sign-in, invite links and open registration — plus screenshots of each page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import RunningApp
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_ENV,
    ADMIN_PASSWORD,
    connected,
    fill_account_form,
    logout,
    new_page,
    screenshot,
    setup_admin,
    signed_in_page,
    submit_sign_in,
)
from tests.factories import hub_process

USER_PASSWORD = "plain user password"
ADMIN_PAGES = ("/users", "/audit", "/keys", "/models")
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One LLM Hub whose admin comes from LLMHUB_ADMIN_EMAIL / LLMHUB_ADMIN_PASSWORD (no setup page)."""
    with hub_process(tmp_path_factory.mktemp("accounts"), env=ADMIN_ENV) as app:
        yield app


def form_error(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("form-error")


def secret_shown(page: Page) -> str:
    """The value in the show-once dialog; closes the dialog."""
    field = page.get_by_test_id("secret-value")  # Quasar puts the attribute on the native input
    expect(field).not_to_have_value("")
    value = field.input_value()
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("secret-value")).to_have_count(0)
    return value


def row_action(page: Page, email: str, item: str, *, then: str | None = None) -> None:
    """Pick ``item`` from the row's menu; ``then``: the button to press in the dialog it opens."""
    page.get_by_test_id(f"actions-{email}").click()
    page.get_by_role("listitem").filter(has_text=item).click()
    if then is not None:
        page.get_by_role("dialog").get_by_role("button", name=then).click()


def status_badge(page: Page, email: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("row").filter(has_text=email).locator(".q-badge").nth(1)


def role_badge(page: Page, email: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("row").filter(has_text=email).locator(".q-badge").nth(0)


def create_user(page: Page, url: str, email: str, password: str = USER_PASSWORD) -> None:
    page.goto(url + "/users")
    page.get_by_role("button", name="New user").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Email").fill(email)
    dialog.get_by_label("Name").fill("Pat Plain")
    dialog.get_by_label("Initial password").fill(password)
    dialog.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("cell", name=email, exact=True)).to_be_visible()


def shoot_signed_out(browser: Browser, address: str, name: str, button: str) -> None:
    """Screenshots of a signed-out page at both widths, light and dark, once its ``button`` shows."""
    for width in WIDTHS:
        for dark in (False, True):
            look = new_page(browser, width=width, dark=dark)
            look.goto(address)
            expect(look.get_by_role("button", name=button)).to_be_visible()
            screenshot(look, f"{name}-{'dark' if dark else 'light'}-{width}")
            look.context.close()


def shoot_all(browser: Browser, url: str, state: dict, paths: dict[str, str], *, dark: bool) -> None:
    """Screenshots of each page at both widths, in a context sharing the signed-in session."""
    for width in WIDTHS:
        context = browser.new_context(
            viewport={"width": width, "height": 900}, color_scheme="dark" if dark else "light", storage_state=state,  # type: ignore[arg-type]
        )
        context.set_default_timeout(10_000)
        page = context.new_page()
        for name, path in paths.items():
            page.goto(url + path)
            expect(page.locator(".q-table, [data-testid=two-factor], form, .q-card").first).to_be_visible()
            page.wait_for_load_state("networkidle")
            screenshot(page, f"{name}-{'dark' if dark else 'light'}-{width}")
        context.close()


# -- first run ------------------------------------------------------------------------------------


def test_first_run_setup_sign_in_out_and_throttle(browser: Browser, fresh_app: RunningApp) -> None:
    app = fresh_app
    shoot_signed_out(browser, app.url + "/setup", "setup", "Create admin account")
    page = new_page(browser)
    page.goto(app.url + "/setup")
    fill_account_form(page, "Ada Admin", "short", email=ADMIN_EMAIL)
    page.get_by_role("button", name="Create admin account").click()
    expect(form_error(page)).to_have_text("The password needs at least 8 characters.")
    setup_admin(page, app.url)
    expect(page.get_by_test_id("user-menu")).to_contain_text("Ada Admin")
    page.goto(app.url + "/setup")
    expect(page.get_by_text("Setup is done")).to_be_visible()
    page.goto(app.url + "/")
    logout(page, app.url)

    page.goto(app.url + "/audit")
    expect(page).to_have_url(app.url + "/login?next=/audit")
    submit_sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(page).to_have_url(app.url + "/audit")
    logout(page, app.url)
    expect(page.get_by_role("link", name="Register")).to_have_count(0)  # registration is closed by default
    shoot_signed_out(browser, app.url + "/login", "login", "Sign in")

    for _ in range(5):
        submit_sign_in(page, ADMIN_EMAIL, "not the password")
        expect(form_error(page)).to_have_text("Wrong e-mail or password.")
        expect(page.get_by_label("Password")).to_have_value("")  # this attempt is answered
    submit_sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(form_error(page)).to_have_text("Too many failed sign-ins, try again in 15 minutes.")
    screenshot(page, "login-throttled-light-1280")
    expect(page).to_have_url(app.url + "/login")
    page.context.close()


# -- users and roles ------------------------------------------------------------------------------


def test_plain_user_is_not_allowed_on_admin_pages_or_admin_api(browser: Browser, hub_app: RunningApp, admin_page: Page) -> None:
    create_user(admin_page, hub_app.url, "pat@example.com")
    user = signed_in_page(browser, hub_app.url, "pat@example.com", USER_PASSWORD)
    expect(user.get_by_role("button", name="Users")).to_have_count(0)  # not in the navigation either
    for path in ADMIN_PAGES:
        response = user.goto(hub_app.url + path)
        assert response is not None and response.status != 404, path
        expect(user.get_by_test_id("not-allowed")).to_contain_text("Not allowed")

    user.goto(hub_app.url + "/profile")
    user.get_by_role("button", name="New token").click()
    dialog = user.get_by_role("dialog")
    dialog.get_by_label("Name").fill("laptop")
    dialog.get_by_label("Monthly budget (USD)").fill("25")
    dialog.get_by_role("button", name="Create token").click()
    raw = secret_shown(user)
    assert raw.startswith("llmh-")
    expect(user.get_by_role("cell", name="…" + raw[-4:])).to_be_visible()
    expect(user.get_by_role("cell", name="$25.00")).to_be_visible()
    assert user.evaluate("raw => [...document.querySelectorAll('input, textarea')].every(e => !e.value.includes(raw))", raw)

    with httpx.Client(base_url=hub_app.url, headers={"Authorization": f"Bearer {raw}"}, timeout=10) as api:
        forbidden = api.get("/api/providers")
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "admin_only"

    user.get_by_test_id("revoke-laptop").click()
    user.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(user.get_by_role("cell", name="revoked")).to_be_visible()
    with httpx.Client(base_url=hub_app.url, headers={"Authorization": f"Bearer {raw}"}, timeout=10) as api:
        assert api.get("/v1/models").status_code == 401
    user.context.close()

    admin_page.goto(hub_app.url + "/audit")
    table = admin_page.locator(".q-table")
    expect(table).to_contain_text("token.revoke")
    expect(table).to_contain_text("token.create")
    expect(table).to_contain_text("user.create")
    admin_page.get_by_label("Who").fill("pat@")
    expect(table).not_to_contain_text("user.create")
    expect(table).to_contain_text("login.success")


def test_last_admin_cannot_demote_themselves(hub_app: RunningApp, admin_page: Page) -> None:
    admin_page.goto(hub_app.url + "/users")
    row_action(admin_page, ADMIN_EMAIL, "Make plain user", then="Change role")
    expect(admin_page.get_by_text("This is the last active admin")).to_be_visible()
    expect(role_badge(admin_page, ADMIN_EMAIL)).to_have_text("admin")


def test_admin_disables_and_enables_a_user(browser: Browser, hub_app: RunningApp, admin_page: Page) -> None:
    create_user(admin_page, hub_app.url, "dora@example.com")
    user = signed_in_page(browser, hub_app.url, "dora@example.com", USER_PASSWORD)
    row_action(admin_page, "dora@example.com", "Disable", then="Disable")
    expect(status_badge(admin_page, "dora@example.com")).to_have_text("disabled")
    user.goto(hub_app.url + "/profile")
    expect(user).to_have_url(hub_app.url + "/login?next=/profile")  # the session ended at once
    submit_sign_in(user, "dora@example.com", USER_PASSWORD)
    expect(form_error(user)).to_have_text("This account is disabled. Ask an administrator to enable it.")
    row_action(admin_page, "dora@example.com", "Enable")
    expect(status_badge(admin_page, "dora@example.com")).to_have_text("active")
    submit_sign_in(user, "dora@example.com", USER_PASSWORD)
    expect(user).to_have_url(hub_app.url + "/profile")
    user.context.close()


def test_admin_signs_a_user_out_everywhere_and_resets_the_password(browser: Browser, hub_app: RunningApp, admin_page: Page) -> None:
    create_user(admin_page, hub_app.url, "sam@example.com")
    user = signed_in_page(browser, hub_app.url, "sam@example.com", USER_PASSWORD)
    row_action(admin_page, "sam@example.com", "Sign out everywhere", then="Sign out")
    expect(admin_page.get_by_text("sam@example.com signed out everywhere")).to_be_visible()
    user.goto(hub_app.url + "/profile")
    expect(user).to_have_url(hub_app.url + "/login?next=/profile")

    row_action(admin_page, "sam@example.com", "Reset password", then="Reset password")
    new_password = secret_shown(admin_page)
    assert len(new_password) >= 16
    submit_sign_in(user, "sam@example.com", USER_PASSWORD)
    expect(form_error(user)).to_have_text("Wrong e-mail or password.")
    submit_sign_in(user, "sam@example.com", new_password)
    expect(user).to_have_url(hub_app.url + "/profile")
    user.context.close()


# -- two-factor -----------------------------------------------------------------------------------


def test_two_factor_enrol_and_sign_in_with_a_code(browser: Browser, hub_app: RunningApp, admin_page: Page) -> None:
    create_user(admin_page, hub_app.url, "tess@example.com")
    page = signed_in_page(browser, hub_app.url, "tess@example.com", USER_PASSWORD)
    page.goto(hub_app.url + "/profile")
    page.get_by_role("button", name="Turn on").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("img", name="QR code")).to_be_visible()
    screenshot(page, "two-factor-enrol-light-1280")
    secret = dialog.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    dialog.get_by_label("Authentication code").fill("000000" if totp.now() != "000000" else "111111")
    dialog.get_by_role("button", name="Turn on").click()
    expect(dialog.get_by_test_id("form-error")).to_contain_text("does not match")
    dialog.get_by_label("Authentication code").fill(totp.now())
    dialog.get_by_role("button", name="Turn on").click()
    codes = secret_shown(page).split("\n")
    assert len(codes) == 10
    expect(page.get_by_test_id("two-factor")).to_contain_text("Recovery codes left: 10")
    logout(page, hub_app.url)

    submit_sign_in(page, "tess@example.com", USER_PASSWORD)
    page.get_by_label("Authentication code").fill(totp.at(time.time() + 30))  # the enrolment used this step's code
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(hub_app.url + "/")
    logout(page, hub_app.url)

    submit_sign_in(page, "tess@example.com", USER_PASSWORD)
    page.get_by_label("Authentication code").fill("123 456")
    page.get_by_role("button", name="Verify").click()
    expect(form_error(page)).to_contain_text("That code is not valid")
    page.get_by_label("Authentication code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(hub_app.url + "/")
    page.goto(hub_app.url + "/profile")
    expect(page.get_by_test_id("two-factor")).to_contain_text("Recovery codes left: 9")

    page.get_by_role("button", name="Turn off").click()
    page.get_by_role("dialog").get_by_label("Authentication code").fill(codes[1])
    page.get_by_role("dialog").get_by_role("button", name="Turn off").click()
    expect(page.get_by_test_id("two-factor").get_by_role("button", name="Turn on")).to_be_visible()
    page.context.close()

    admin_page.goto(hub_app.url + "/audit")
    admin_page.get_by_label("Action").click()
    admin_page.get_by_role("option", name="2fa").click()
    table = admin_page.locator(".q-table")
    expect(table).to_contain_text("2fa.disable")
    expect(table).not_to_contain_text("login.success")
    admin_page.get_by_label("From", exact=True).fill(date.today().isoformat())  # dates are the browser's local days
    expect(table).to_contain_text("2fa.enable")
    admin_page.get_by_label("To", exact=True).fill((date.today() - timedelta(days=1)).isoformat())
    expect(admin_page.get_by_text("No events match")).to_be_visible()


# -- invites and registration ---------------------------------------------------------------------


def test_invite_link_creates_a_signed_in_account(browser: Browser, hub_app: RunningApp, admin_page: Page) -> None:
    admin_page.goto(hub_app.url + "/users")
    admin_page.get_by_role("button", name="Invite link").click()
    admin_page.get_by_role("dialog").get_by_label("Email").fill("ivy@example.com")
    admin_page.get_by_role("dialog").get_by_role("button", name="Create link").click()
    link = secret_shown(admin_page)
    assert link.startswith(hub_app.url + "/invite/")
    expect(admin_page.get_by_role("cell", name="ivy@example.com", exact=True)).to_be_visible()  # listed as an open invite

    guest = new_page(browser)
    guest.goto(link)
    expect(guest.get_by_label("Email")).to_have_value("ivy@example.com")
    fill_account_form(guest, "Ivy", USER_PASSWORD)
    guest.get_by_role("button", name="Create account").click()
    expect(guest).to_have_url(hub_app.url + "/")
    expect(guest.get_by_test_id("user-menu")).to_contain_text("Ivy")
    guest.goto(link)
    expect(guest.get_by_text("Invite not valid")).to_be_visible()
    guest.context.close()


def test_open_registration_waits_for_approval(browser: Browser, hub_app: RunningApp, admin_page: Page) -> None:
    admin_page.goto(hub_app.url + "/users")
    admin_page.get_by_test_id("registration-mode").get_by_text("Open with approval").click()
    expect(admin_page.get_by_text("Registration: Open with approval")).to_be_visible()

    guest = new_page(browser)
    guest.goto(hub_app.url + "/login")
    guest.get_by_role("link", name="Register").click()
    expect(guest).to_have_url(hub_app.url + "/register")
    connected(guest)
    fill_account_form(guest, "Rita", USER_PASSWORD, email="rita@example.com")
    guest.get_by_role("button", name="Register").click()
    expect(guest.get_by_test_id("register-done")).to_be_visible()
    expect(guest.get_by_test_id("register-done")).to_contain_text("waiting for an administrator's approval")
    guest.goto(hub_app.url + "/login")
    submit_sign_in(guest, "rita@example.com", USER_PASSWORD)
    expect(form_error(guest)).to_have_text("Your account is waiting for an administrator's approval.")

    admin_page.reload()
    expect(admin_page.get_by_test_id("pending-note")).to_have_text("1 account waiting for approval")
    row_action(admin_page, "rita@example.com", "Approve")
    expect(status_badge(admin_page, "rita@example.com")).to_have_text("active")
    submit_sign_in(guest, "rita@example.com", USER_PASSWORD)
    expect(guest).to_have_url(hub_app.url + "/")
    guest.context.close()

    admin_page.get_by_test_id("registration-mode").get_by_text("Closed").click()
    expect(admin_page.get_by_text("Registration: Closed")).to_be_visible()


# -- screenshots ----------------------------------------------------------------------------------


def test_screenshots_of_the_admin_pages(browser: Browser, hub_app: RunningApp, admin_page: Page) -> None:
    paths = {"users": "/users", "profile": "/profile", "audit": "/audit"}
    admin_page.goto(hub_app.url + "/profile")
    admin_page.get_by_role("button", name="New token").click()
    dialog = admin_page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("notebook")
    dialog.get_by_label("Requests per minute").fill("60")
    screenshot(admin_page, "token-create-dialog-light-1280")
    dialog.get_by_role("button", name="Create token").click()
    expect(admin_page.get_by_test_id("secret-value")).not_to_have_value("")
    screenshot(admin_page, "token-shown-once-light-1280")
    secret_shown(admin_page)
    state = admin_page.context.storage_state()
    shoot_all(browser, hub_app.url, state, paths, dark=False)  # type: ignore[arg-type]
    admin_page.goto(hub_app.url + "/profile")
    admin_page.get_by_role("button", name="Toggle dark mode").click()
    expect(admin_page.locator("body.body--dark")).to_have_count(1)
    admin_page.wait_for_load_state("networkidle")
    try:
        shoot_all(browser, hub_app.url, state, paths, dark=True)  # type: ignore[arg-type]
    finally:
        admin_page.get_by_role("button", name="Toggle dark mode").click()
    for name in ("users", "profile", "audit"):
        assert Path(f"screenshots/{name}-dark-390.png").exists()
