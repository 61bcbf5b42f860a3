"""The Models page at scale, in a real browser: 30 models in a searchable list with a live status, a side
panel named in the URL, suggestions from the provider's own list, and try-it's attempt trail on failure."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import RunningApp
from tests.e2e.conftest import ADMIN_ENV, screenshot, set_dark_mode, signed_in_page
from tests.factories import hub_process
from tests.upstream_emulator import EmulatorHandle

FILLER = "\n".join(f"  - {{name: team-{i:02d}, description: 'Model {i} of the team', routes: [{{provider: emu, model: gpt-4o-mini}}]}}"
                   for i in range(26))
CONFIG = """
providers:
  - {{name: emu, kind: openai, base_url: "{url}/v1", keys: [{{label: main, secret: "ok#models-e2e"}}]}}
  - {{name: dead, kind: openai, base_url: "{url}/v1", keys: [{{label: revoked, secret: "unauthorized#models-e2e"}}]}}
  - {{name: local, kind: ollama, base_url: "{url}", keys: [{{label: none, secret: "ok#models-e2e-ollama"}}]}}
models:
  - {{name: broken, description: 'Routed to a revoked key', routes: [{{provider: dead, model: gpt-4o}}]}}
  - {{name: fallback, routes: [{{provider: dead, model: gpt-4o, priority: 1}}, {{provider: emu, model: gpt-4o, priority: 2}}]}}
  - {{name: offline, enabled: false, routes: [{{provider: emu, model: gpt-4o}}]}}
  - {{name: tuned, aliases: [tuned-alias], num_retries: 4, timeout: 12.5, routes: [{{provider: emu, model: gpt-4o}}]}}
{filler}
"""


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("models"), CONFIG, emulator, env=ADMIN_ENV, filler=FILLER) as app:
        yield app


def test_a_long_list_is_searched_and_a_failure_shows_its_attempt_trail(admin_page: Page, hub_app: RunningApp) -> None:
    page = admin_page
    page.goto(hub_app.url + "/models")
    listing = page.get_by_test_id("model-list")
    expect(listing).to_contain_text("1-25 of 30")
    expect(page.get_by_test_id("model-status-offline")).to_have_text("disabled")
    page.get_by_label("Search models").fill("dead/")  # the routes are searched too
    expect(listing.locator("tbody tr")).to_have_count(2)
    page.get_by_label("Search models").fill("broken")
    expect(listing.locator("tbody tr")).to_have_count(1)

    listing.get_by_text("broken", exact=True).click()
    expect(page).to_have_url(re.compile(r"/models\?model=broken$"))
    panel = page.get_by_test_id("model-broken")
    box = panel.get_by_test_id("try-broken")
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_test_id("try-error")).to_contain_text("502")
    trail = box.get_by_test_id("attempt-trail")
    expect(trail).to_contain_text("dead/gpt-4o")
    expect(trail).to_contain_text("failed")
    expect(trail).to_contain_text("401")
    assert "unauthorized#models-e2e" not in page.content()
    screenshot(page, "models-try-failure-1280-light")
    panel.get_by_role("button", name="Close").click()
    expect(page).to_have_url(hub_app.url + "/models")

    page.get_by_label("Search models").fill("")
    expect(page.get_by_test_id("model-status-broken")).to_have_text("unavailable")  # the key is invalid now: the list says so
    expect(page.get_by_test_id("model-status-fallback")).to_have_text("degraded")


def test_the_panel_lives_in_the_url_and_suggests_the_providers_models(admin_page: Page, hub_app: RunningApp) -> None:
    page = admin_page
    page.goto(hub_app.url + "/models?model=team-03")
    panel = page.get_by_test_id("model-team-03")
    expect(panel.get_by_label("Description")).to_have_value("Model 3 of the team")
    page.go_back()  # the panel was opened by the URL itself: Back leaves for where the browser came from
    page.goto(hub_app.url + "/models")
    page.get_by_test_id("model-list").get_by_text("team-03", exact=True).click()
    expect(page).to_have_url(re.compile(r"model=team-03"))
    page.go_back()
    expect(page.get_by_test_id("model-team-03")).to_have_count(0)
    page.go_forward()
    panel = page.get_by_test_id("model-team-03")
    expect(panel).to_be_visible()

    panel.get_by_role("button", name="Add route").click()
    route = panel.get_by_test_id("route-1")
    route.get_by_label("Provider").click()
    page.get_by_role("option", name="local", exact=True).click()
    panel.get_by_role("button", name="Model suggestions for route 2").click()
    suggestions = page.get_by_test_id("suggestions-1")
    suggestions.get_by_text("Fetch models from local").click()  # not asked yet: one click asks the provider
    expect(suggestions.get_by_text("nomic-embed-text:latest")).to_be_visible()
    suggestions.get_by_text("llama3.2:latest").click()
    expect(route.get_by_label("Upstream model")).to_have_value("llama3.2:latest")
    panel.get_by_role("button", name="Save").click()
    expect(panel).to_have_count(0)
    expect(page.get_by_test_id("model-list")).to_contain_text("local/llama3.2:latest")


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_screenshots(browser: Browser, hub_app: RunningApp, dark: bool) -> None:
    mode = "dark" if dark else "light"
    for width, height in ((1280, 900), (390, 844)):
        page = signed_in_page(browser, hub_app.url, width=width, height=height)
        set_dark_mode(page, dark)
        page.goto(hub_app.url + "/models")
        expect(page.get_by_test_id("model-status-team-00")).to_be_visible()
        screenshot(page, f"models-list-{width}-{mode}")
        page.goto(hub_app.url + "/models?model=fallback")
        expect(page.get_by_test_id("model-fallback").get_by_label("Model name")).to_have_value("fallback")
        expect(page.locator(".q-dialog [class*=q-transition]")).to_have_count(0)
        screenshot(page, f"models-panel-{width}-{mode}", full_page=False)
        page.context.close()


@pytest.mark.parametrize(("width", "dark"), [(1280, False), (390, True)])
def test_drop_unsupported_parameters_is_a_switch_in_the_panel(browser: Browser, hub_app: RunningApp, width: int, dark: bool) -> None:
    page = signed_in_page(browser, hub_app.url, width=width)
    set_dark_mode(page, dark)
    name = f"team-{width % 26:02d}"
    page.goto(hub_app.url + f"/models?model={name}")
    panel = page.get_by_test_id(f"model-{name}")
    switch = panel.get_by_test_id("drop-params")
    expect(switch).to_contain_text("Drop unsupported parameters")
    switch.click()
    screenshot(page, f"models-drop-params-{width}-{'dark' if dark else 'light'}", full_page=False)
    panel.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id(f"model-{name}")).to_have_count(0)
    with hub_app.client() as admin:
        assert admin.get(f"/api/models/{name}").json()["drop_params"] is True
    page.close()


def test_a_save_from_the_panel_keeps_what_the_panel_does_not_edit(admin_page: Page, hub_app: RunningApp) -> None:
    """Aliases, retries and timeouts come from the YAML config or the API; saving the panel kept none of them."""
    admin_page.goto(hub_app.url + "/models?model=tuned")
    panel = admin_page.get_by_test_id("model-tuned")
    panel.get_by_label("Description").fill("Now with a description")
    panel.get_by_role("button", name="Save").click()
    expect(admin_page.get_by_test_id("model-tuned")).to_have_count(0)
    with hub_app.client() as admin:
        saved = admin.get("/api/models/tuned").json()
    assert saved["description"] == "Now with a description"
    assert (saved["aliases"], saved["num_retries"], saved["timeout"]) == (["tuned-alias"], 4, 12.5)
