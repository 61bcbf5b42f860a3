"""The console as a product, in a real browser: real links (middle-click opens a tab), the API docs
with the network blocked, the first-run checklist ticking itself off, and the new-token snippets that
run as pasted."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.conftest import RunningApp
from tests.e2e.conftest import ADMIN_ENV, new_page, screenshot, set_dark_mode, setup_admin, signed_in_page
from tests.factories import hub_process
from tests.upstream_emulator import EmulatorHandle


def test_navigation_is_links_and_middle_click_opens_a_tab(page: Page, fresh_app: RunningApp, emulator: EmulatorHandle) -> None:
    setup_admin(page, fresh_app.url)
    home = page.get_by_test_id("nav-home")
    expect(home).to_have_attribute("aria-current", "page")
    usage = page.get_by_test_id("nav-usage")
    expect(usage).to_have_attribute("href", "/usage")
    expect(usage).not_to_have_attribute("aria-current", "page")
    with page.context.expect_page() as opened:
        usage.click(button="middle")
    tab = opened.value
    tab.wait_for_load_state()
    expect(tab).to_have_url(fresh_app.url + "/usage")
    expect(tab.get_by_test_id("nav-usage")).to_have_attribute("aria-current", "page")
    empty_usage_page_opens_on_a_day_without_stray_axes(tab)
    expect(page).to_have_url(fresh_app.url + "/")  # the first tab stayed where it was

    page.get_by_test_id("nav-keys").click()  # a plain click navigates in place
    expect(page).to_have_url(fresh_app.url + "/keys")
    expect(page.get_by_test_id("nav-keys")).to_have_attribute("aria-current", "page")
    page.locator("[data-testid=user-menu]").click()
    expect(page.locator("a[href='/profile']")).to_have_text("Profile")  # a link in the menu too


def empty_usage_page_opens_on_a_day_without_stray_axes(page: Page) -> None:
    """A new install's Usage page: the last 24 hours (the first calls fill the chart), and empty charts draw
    their message, not axes from 0 to 1."""
    expect(page.get_by_test_id("range-toggle").locator("button[aria-pressed=true]")).to_have_text("24h")
    chart = page.get_by_test_id("chart-requests")
    expect(chart).to_contain_text("No usage in this range")
    expect(chart.locator(".xtick, .ytick")).to_have_count(0)


def test_api_docs_render_with_the_network_blocked(browser: Browser, fresh_app: RunningApp) -> None:
    """Swagger UI's script and styles come from the hub itself: every request to another host is refused."""
    refused: list[str] = []
    context = browser.new_context()  # a plain page: the docs are no NiceGUI page to wait for
    page = context.new_page()

    def only_the_hub(route: Route) -> None:
        if route.request.url.startswith(fresh_app.url + "/"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_hub)
    page.goto(fresh_app.url + "/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("LLM Hub API")
    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert refused == []  # nothing was even asked of another host
    context.close()


CATALOG = {
    "provider": {"name": "emu", "kind": "openai", "base_url": "{url}/v1", "keys": [{"label": "main", "secret": "ok#onboarding"}]},
    "model": {"name": "smart", "routes": [{"provider": "emu", "model": "gpt-4o-mini"}]},
}


def test_first_run_checklist_ticks_itself_off_and_the_token_snippets_run(
    page: Page, fresh_app: RunningApp, emulator: EmulatorHandle
) -> None:
    setup_admin(page, fresh_app.url)
    checklist = page.get_by_test_id("checklist")
    expect(checklist.get_by_test_id("checklist-progress")).to_have_text("0 of 4 done")
    expect(checklist.get_by_role("link", name="Keys → Add provider")).to_have_attribute("href", "/keys")

    with fresh_app.client() as admin:  # the catalog made elsewhere (the API): the open page ticks the steps off
        provider = {**CATALOG["provider"], "base_url": emulator.url + "/v1"}
        assert admin.post("/api/providers", json=provider).status_code == 201
        assert admin.post("/api/models", json=CATALOG["model"]).status_code == 201
    expect(checklist.get_by_test_id("step-provider")).to_have_attribute("data-state", "done")
    expect(checklist.get_by_test_id("step-model")).to_have_attribute("data-state", "done")
    expect(checklist.get_by_test_id("checklist-progress")).to_have_text("2 of 4 done")

    token, curl = new_token_with_snippets(page, fresh_app)
    page.get_by_test_id("nav-home").click()
    expect(page.get_by_test_id("step-token")).to_have_attribute("data-state", "done")
    expect(page.get_by_test_id("step-call")).to_have_attribute("data-state", "open")

    answer = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(answer.stdout)["choices"][0]["message"]["content"] == "Echo: Say hello in five words."
    expect(page.get_by_test_id("step-call")).to_have_attribute("data-state", "done")
    expect(page.get_by_test_id("checklist-progress")).to_have_text("4 of 4 done")
    expect(page.get_by_test_id("checklist")).to_contain_text("All set")
    assert token not in page.content()  # the home page's snippets carry a placeholder, never a token

    fresh = new_page(page.context.browser)  # type: ignore[arg-type]
    fresh.context.add_cookies(page.context.cookies())
    fresh.goto(fresh_app.url + "/")
    expect(fresh.get_by_test_id("home-snippets")).to_be_visible()
    expect(fresh.get_by_test_id("checklist")).to_be_hidden()  # set up already: no checklist at all
    fresh.context.close()


def new_token_with_snippets(page: Page, app: RunningApp) -> tuple[str, str]:
    """Create a token on the Profile page; the dialog's snippets carry this server's URL and the token."""
    page.goto(app.url + "/profile")
    page.get_by_role("button", name="New token").click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    dialog = page.get_by_test_id("show-once")
    token = dialog.get_by_test_id("secret-value").input_value()  # Quasar puts the attribute on the native input
    curl_block = dialog.get_by_test_id("snippet-curl")
    expect(curl_block).to_contain_text(f"{app.url}/v1/chat/completions")
    expect(curl_block).to_contain_text(token)
    curl = curl_block.locator("pre, code").first.inner_text()
    dialog.get_by_role("tab", name="Python").click()
    expect(dialog.get_by_test_id("snippet-python")).to_contain_text(f'api_key="{token}"')
    dialog.get_by_role("tab", name="TypeScript").click()
    expect(dialog.get_by_test_id("snippet-typescript")).to_contain_text(f'baseURL: "{app.url}/v1"')
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()
    assert token not in page.content()
    return token, curl


SHOTS_CONFIG = """
providers:
  - {{name: emu, kind: openai, base_url: "{url}/v1", keys: [{{label: main, secret: "ok#console-shots"}}]}}
models:
  - {{name: smart, routes: [{{provider: emu, model: gpt-4o}}]}}
"""


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_screenshots(browser: Browser, tmp_path: Path, emulator: EmulatorHandle, dark: bool) -> None:
    """Home with its checklist, the new-token dialog and the Keys page's model list, at 1280 and 390 px."""
    mode = "dark" if dark else "light"
    with hub_process(tmp_path, SHOTS_CONFIG, emulator, env=ADMIN_ENV) as app:
        for width, height in ((1280, 900), (390, 844)):
            page = signed_in_page(browser, app.url, width=width, height=height)
            set_dark_mode(page, dark)
            expect(page.get_by_test_id("checklist-progress")).to_have_text(re.compile(r"[23] of 4 done"))  # a token from 1280 px on
            screenshot(page, f"home-{width}-{mode}")
            page.goto(app.url + "/profile")
            page.get_by_role("button", name="New token").click()
            page.get_by_label("Name").fill(f"shot-{width}")
            page.get_by_role("button", name="Create token").click()
            expect(page.get_by_test_id("token-snippets")).to_contain_text(app.url)
            screenshot(page, f"token-created-{width}-{mode}", full_page=False)
            page.get_by_role("button", name="Done").click()
            page.goto(app.url + "/keys")
            page.get_by_role("button", name="Models of emu").click()
            expect(page.get_by_test_id("discovered-gpt-4o")).to_contain_text("routed by smart")
            screenshot(page, f"keys-discovery-{width}-{mode}", full_page=False)
            page.context.close()
