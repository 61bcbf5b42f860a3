"""Providers, keys, models and routing in a real browser, against the upstream emulator."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import yaml
from playwright.sync_api import Browser, Locator, Page, expect

from tests.conftest import RunningApp
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    logout,
    screenshot,
    setup_admin,
    signed_in_page,
)
from tests.upstream_emulator import EmulatorHandle

GOOD_SECRET = "ok#k1-7f3a91c2d4e5b6a8"
BAD_SECRET = "unauthorized#k2-0b1c2d3e4f5a6978"
ROTATED_SECRET = "ok#k2-rotated-9a8b7c6d"
PROVIDER = "emulated"


def choose(page: Page, field: Locator, option: str) -> None:
    field.click()
    page.get_by_role("option", name=option, exact=True).click()


def add_key(page: Page, label: str, secret: str) -> None:
    dialog = page.get_by_test_id("key-dialog")
    dialog.get_by_label("Label").fill(label)
    dialog.get_by_label("Secret").fill(secret)
    dialog.get_by_role("button", name="Add key").click()
    expect(dialog).to_be_hidden()


def key_row(page: Page, label: str) -> Locator:
    return page.get_by_test_id("key-table").locator("tbody tr", has=page.get_by_text(label, exact=True))


def add_provider_with_keys(page: Page, url: str, emulator: EmulatorHandle) -> None:
    page.goto(url + "/keys")
    page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_test_id("provider-dialog")
    expect(dialog.get_by_text("Leave empty for the default: https://api.openai.com/v1")).to_be_visible()
    dialog.get_by_label("Name").fill(PROVIDER)
    choose(page, dialog.get_by_label("Kind"), "OpenAI-compatible (Groq, OpenRouter, Mistral, vLLM…)")
    dialog.get_by_role("button", name="Add provider").click()  # no base URL: refused, the message under the field
    expect(dialog.get_by_text("an openai_compatible provider needs a base_url")).to_be_visible()
    choose(page, dialog.get_by_label("Kind"), "OpenAI")
    dialog.get_by_label("Base URL").fill(emulator.url + "/v1")
    dialog.get_by_role("button", name="Add provider").click()
    add_key(page, "k1", GOOD_SECRET)  # the key dialog opens right after the provider is added
    add_discovered_models(page)  # ...and the provider's models right after its first key
    page.get_by_role("button", name="Add key").click()
    add_key(page, "k2", BAD_SECRET)
    expect(page.get_by_test_id("provider-table")).to_contain_text(emulator.url + "/v1")


def add_discovered_models(page: Page) -> None:
    """One click adds a new provider's models: the list comes from the provider (the emulator's /v1/models)."""
    dialog = page.get_by_test_id("discovery-dialog")
    expect(dialog.get_by_test_id("discovered-text-embedding-3-small")).to_contain_text("embeddings")
    dialog.get_by_label("Filter models").fill("4o")
    expect(dialog.get_by_test_id("discovered-text-embedding-3-small")).to_be_hidden()
    dialog.get_by_role("checkbox", name="gpt-4o", exact=True).click()
    expect(dialog).to_contain_text("1 of 3 chosen")
    screenshot(page, "catalog-discovery-1280-light")
    dialog.get_by_role("button", name="Add as models").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("Added 1 model(s): gpt-4o")).to_be_visible()


def check_keys_are_masked(page: Page) -> None:
    expect(key_row(page, "k1")).to_contain_text("…b6a8")
    expect(key_row(page, "k2")).to_contain_text("…6978")
    html = page.content()
    assert GOOD_SECRET not in html and BAD_SECRET not in html
    assert "k1-7f3a" not in html and "k2-0b1c" not in html  # not even a longer tail


def test_providers_keys_routing_and_export(page: Page, fresh_app: RunningApp, emulator: EmulatorHandle) -> None:
    setup_admin(page, fresh_app.url)
    add_provider_with_keys(page, fresh_app.url, emulator)
    check_keys_are_masked(page)

    key_row(page, "k1").get_by_role("button", name="Test").click()
    expect(page.get_by_test_id("test-k1")).to_contain_text("OK in")
    expect(page.get_by_test_id("test-k1")).to_contain_text(" ms")
    expect(page.get_by_test_id("status-k1")).to_have_text("active")

    key_row(page, "k2").get_by_role("button", name="Test").click()
    expect(page.get_by_test_id("test-k2")).to_contain_text("401: Incorrect API key provided.")
    expect(page.get_by_test_id("status-k2")).to_have_text("invalid")
    check_keys_are_masked(page)
    cool_down_and_recover(page, "k1")
    disable_enable_rotate(page, "k2")

    add_model(page, fresh_app.url, "smart")
    try_it(page, "smart")
    export_has_no_secrets(page)
    import_litellm(page, emulator)
    screenshots(page, fresh_app.url)
    delete_key(page, fresh_app.url, "k2")
    logout(page, fresh_app.url)
    assert_audited(fresh_app)


def assert_audited(app: RunningApp) -> None:
    with sqlite3.connect(app.data_dir / "llmhub.db") as db:
        events = {(actor, action) for actor, action in db.execute("SELECT actor, action FROM auditevent")}
    wanted = {"provider.create", "key.create", "key.test", "key.cooldown", "model.create", "config.export", "config.import"}
    assert {(ADMIN_EMAIL, action) for action in wanted} <= events


def cool_down_and_recover(page: Page, label: str) -> None:
    """A forced cooldown shows its end time, and the badge turns active again by itself (the live timer)."""
    key_action(page, label, "Force cooldown")
    page.get_by_label("Seconds").fill("2")
    page.get_by_role("button", name="Cool down", exact=True).click()
    expect(page.get_by_test_id(f"status-{label}")).to_contain_text(re.compile(r"cooling until \d\d:\d\d:\d\d"))
    expect(page.get_by_test_id(f"status-{label}")).to_have_text("active", timeout=8000)


def key_action(page: Page, label: str, action: str) -> None:
    key_row(page, label).get_by_role("button", name=f"{action}: {label}").click()


def disable_enable_rotate(page: Page, label: str) -> None:
    status = page.get_by_test_id(f"status-{label}")
    key_row(page, label).get_by_role("switch", name=f"Enabled: {label}").click()
    expect(status).to_have_text("disabled")
    key_row(page, label).get_by_role("switch", name=f"Enabled: {label}").click()
    expect(status).to_have_text("invalid")
    key_action(page, label, "Rotate secret")
    page.get_by_label("New secret").fill(ROTATED_SECRET)
    page.get_by_role("button", name="Rotate", exact=True).click()
    expect(page.get_by_label("New secret")).to_have_count(0)  # the dialog is gone, and the secret with it
    expect(status).to_have_text("active")  # a new secret starts with a clean health
    expect(key_row(page, label)).to_contain_text("…" + ROTATED_SECRET[-4:])
    assert ROTATED_SECRET not in page.content()


def delete_key(page: Page, url: str, label: str) -> None:
    page.goto(url + "/keys")
    key_action(page, label, "Delete")
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(key_row(page, label)).to_have_count(0)
    expect(key_row(page, "k1")).to_have_count(1)


def add_model(page: Page, url: str, name: str) -> None:
    """A new model in the side panel; its upstream model picked from the provider's list."""
    page.goto(url + "/models")
    page.get_by_role("button", name="New model").click()
    card = page.get_by_test_id("model-new")
    card.get_by_role("button", name="Create model").click()  # empty: refused with messages at the fields
    expect(card.get_by_text("enter the provider's model name")).to_be_visible()
    card.get_by_label("Model name").fill(name)
    choose(page, card.get_by_label("Provider"), PROVIDER)
    card.get_by_role("button", name="Model suggestions for route 1").click()
    suggestions = page.get_by_test_id("suggestions-0")  # listed once already (when the key was added): no fetch needed
    expect(suggestions.get_by_text("text-embedding-3-small")).to_be_visible()
    screenshot(page, "catalog-model-suggestions-1280-light")
    suggestions.get_by_text("gpt-4o-mini", exact=True).click()
    expect(card.get_by_label("Upstream model")).to_have_value("gpt-4o-mini")
    card.get_by_role("button", name="Create model").click()
    expect(page.get_by_test_id("model-new")).to_have_count(0)
    expect(page.get_by_test_id("model-list")).to_contain_text(f"{PROVIDER}/gpt-4o-mini")
    expect(page.get_by_test_id(f"model-status-{name}")).to_have_text("ready")


def try_it(page: Page, model: str, route: str = f"{PROVIDER}/gpt-4o-mini") -> None:
    page.get_by_test_id("model-list").get_by_text(model, exact=True).click()  # the model's side panel
    box = page.get_by_test_id(f"try-{model}")
    box.get_by_label("Try it").fill("hello from the console")
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_test_id("try-answer")).to_contain_text("Echo: hello from the console")
    trail = box.get_by_test_id("attempt-trail")
    expect(trail).to_contain_text("served")
    expect(trail).to_contain_text(route)
    screenshot(page, f"catalog-models-try-{model}-1280-light")
    page.get_by_test_id(f"model-{model}").get_by_role("button", name="Close").click()
    expect(page.get_by_test_id(f"model-{model}")).to_have_count(0)


def export_has_no_secrets(page: Page) -> None:
    with page.expect_download() as download:
        page.get_by_role("button", name="Export YAML").click()
    text = Path(download.value.path()).read_text()
    config = yaml.safe_load(text)
    assert [p["name"] for p in config["providers"]] == [PROVIDER]
    assert [m["name"] for m in config["models"]] == ["gpt-4o", "smart"]
    assert GOOD_SECRET not in text and BAD_SECRET not in text and "${LLMHUB_KEY_" in text


def import_litellm(page: Page, emulator: EmulatorHandle) -> None:
    """Paste a LiteLLM config.yaml, preview what it creates, apply, and find the new model."""
    secret = "ok#litellm-key-5f6e7d8c"
    litellm = f"""model_list:
  - model_name: fast
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {emulator.url}/v1
      api_key: {secret}
      rpm: 60
"""
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_test_id("import-dialog")
    dialog.get_by_label("YAML").fill(litellm)
    dialog.get_by_role("button", name="Preview").click()
    expect(dialog.get_by_text("LiteLLM config.yaml, translated")).to_be_visible()
    preview = dialog.get_by_test_id("import-preview")
    expect(preview).to_contain_text("127-0-0-1 / key-1")
    expect(preview.locator("tbody tr")).to_have_count(3)
    expect(dialog.get_by_test_id("import-summary")).to_contain_text("3 change(s)")
    screenshot(page, "catalog-import-preview-1280-light")
    dialog.get_by_role("button", name="Apply").click()
    expect(dialog).to_be_hidden()
    try_it(page, "fast", "127-0-0-1/gpt-4o-mini")
    assert secret not in page.content()


def screenshots(page: Page, url: str) -> None:
    """/keys and /models at 1280 and 390 px, light and dark (dark mode is the user's setting)."""
    browser: Browser = page.context.browser  # type: ignore[assignment]
    phone = signed_in_page(browser, url, width=390, height=844)
    for dark in (False, True):
        if dark:
            phone.get_by_role("button", name="Toggle dark mode").click()
            expect(phone.locator("body.body--dark")).to_have_count(1)
        mode = "dark" if dark else "light"
        for view, shot in ((page, "1280"), (phone, "390")):
            for path in ("keys", "models"):
                view.goto(f"{url}/{path}")
                expect(view.get_by_test_id("status-k2" if path == "keys" else "model-status-smart")).to_be_visible()
                screenshot(view, f"catalog-{path}-{shot}-{mode}")
    phone.context.close()
