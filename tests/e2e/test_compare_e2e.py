"""The compare page in a real browser against the upstream emulator: parallel streaming, stopping one
column, separate histories, inline errors, export, blind votes and the leaderboard, hostile output,
templates — plus screenshots with two and four columns, light and dark, desktop and phone."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.conftest import RunningApp
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_ENV,
    connected,
    screenshot,
    set_dark_mode,
    signed_in_page,
)
from tests.factories import hub_process
from tests.upstream_emulator import EmulatorHandle

DRIP_A = "drip:0.3#compare-e2e-a"
DRIP_B = "drip:0.3#compare-e2e-b"
CONFIG = """
providers:
  - {{name: emu-gemini, kind: gemini, base_url: "{url}", keys: [{{label: drip-a, secret: "{drip_a}"}}]}}
  - {{name: emu-ollama, kind: ollama, base_url: "{url}", keys: [{{label: drip-b, secret: "{drip_b}"}}]}}
  - {{name: emu-openai, kind: openai, base_url: "{url}/v1", keys: [{{label: primary, secret: "ok#compare-e2e-o"}}]}}
  - {{name: emu-anthropic, kind: anthropic, base_url: "{url}", keys: [{{label: main, secret: "ok#compare-e2e-an"}}]}}
  - {{name: dead, kind: openai, base_url: "{url}/v1", keys: [{{label: revoked, secret: "unauthorized#compare-e2e-d"}}]}}
models:
  - {{name: alpha, routes: [{{provider: emu-gemini, model: gemini-2.5-flash}}]}}
  - {{name: beta, routes: [{{provider: emu-ollama, model: llama3.2}}]}}
  - {{name: broken, routes: [{{provider: dead, model: gpt-4o}}]}}
  - {{name: claude, routes: [{{provider: emu-anthropic, model: claude-haiku-4-5}}]}}
  - {{name: fast, routes: [{{provider: emu-openai, model: gpt-4o-mini}}]}}
  - {{name: textonly, routes: [{{provider: emu-openai, model: gpt-3.5-turbo}}]}}
"""
PNG_1X1 = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
LONG_PROMPT = "count one two three four five six seven"


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("compare"), CONFIG, emulator, env=ADMIN_ENV, drip_a=DRIP_A, drip_b=DRIP_B) as app:
        yield app


@pytest.fixture
def compare(browser: Browser, hub_app: RunningApp) -> Iterator[Page]:
    page = signed_in_page(browser, hub_app.url)
    page.goto(hub_app.url + "/compare")
    expect(column(page, 1)).to_be_visible()
    yield page
    page.context.close()


def column(page: Page, index: int) -> Locator:
    return page.get_by_test_id(f"column-{index}")


def send(page: Page, text: str, *, accepted: bool = True) -> None:
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill(text)
    prompt.press("Enter")
    if accepted:  # the page empties the box in the same update that shows the new turn
        expect(prompt).to_have_value("")


def pick_model(page: Page, index: int, model: str) -> None:
    connected(page)
    field = column(page, index).get_by_label("Model")
    field.click()
    page.locator("#" + str(field.get_attribute("aria-controls"))).get_by_role("option", name=model, exact=True).click()
    expect(page.get_by_role("listbox")).to_have_count(0)
    expect(column(page, index).get_by_label("Model")).to_have_value(model)


def wait_until_answered(page: Page, *indexes: int) -> None:
    for index in indexes:
        expect(column(page, index).get_by_test_id("live-answer")).to_have_count(0, timeout=15_000)
        expect(column(page, index).get_by_test_id("answer").last).to_be_visible()


def ask(page: Page, text: str, *models: str) -> None:
    """Pick ``models`` for the first columns, send ``text`` and wait until each of them has answered."""
    for index, model in enumerate(models):
        pick_model(page, index, model)
    send(page, text)
    wait_until_answered(page, *range(len(models)))


def upstream_calls(emulator: EmulatorHandle, key: str) -> list[dict]:
    return [r for r in httpx.get(emulator.url + "/_emulator/requests").json()["requests"] if r["key"] == key]


def test_columns_stream_in_parallel_stop_alone_and_keep_their_own_history(
    compare: Page, hub_app: RunningApp, emulator: EmulatorHandle
) -> None:
    page = compare
    emulator.reset()
    send(page, LONG_PROMPT)
    first, second = column(page, 0), column(page, 1)
    for each in (first, second):  # both show text while both are still streaming
        expect(each.get_by_test_id("live-answer")).to_contain_text("Echo:")
    for each in (first, second):
        expect(each.get_by_role("button", name="Stop")).to_be_visible()
        expect(each.get_by_test_id("live-answer")).not_to_contain_text("seven")
        expect(each.get_by_test_id("live-metrics")).to_contain_text("TTFT")

    first.get_by_role("button", name="Stop").click()
    expect(first.get_by_text("stopped", exact=True)).to_be_visible()
    expect(second.get_by_role("button", name="Stop")).to_be_visible()  # the other column keeps streaming
    expect(second.get_by_test_id("live-answer")).to_be_visible()
    wait_until_answered(page, 1)
    expect(second.get_by_test_id("answer")).to_contain_text(f"Echo: {LONG_PROMPT}")
    metrics = second.get_by_test_id("metrics")
    for part in ("TTFT", "prompt", "completion tokens", "$0", "emu-ollama/llama3.2", "key drip-b"):
        expect(metrics).to_contain_text(part)
    expect(metrics).not_to_contain_text("tok/s")  # nine tokens: too few for a rate to mean anything
    expect(page.get_by_test_id("context-1")).to_contain_text("131k tokens of context")

    send(page, "and then?")
    wait_until_answered(page, 0, 1)
    stopped_answer = first.get_by_test_id("answer").first.inner_text()
    assert "seven" not in stopped_answer
    gemini = upstream_calls(emulator, DRIP_A)
    ollama = upstream_calls(emulator, DRIP_B)
    assert len(gemini) == 2 and len(ollama) == 2
    first_history = [(c["role"], " ".join(p["text"] for p in c["parts"]).strip()) for c in gemini[1]["body"]["contents"]]
    assert first_history[0] == ("user", LONG_PROMPT) and first_history[2] == ("user", "and then?")
    assert first_history[1][0] == "model" and first_history[1][1] != f"Echo: {LONG_PROMPT}"  # its own, stopped answer
    second_history = [(m["role"], m["content"]) for m in ollama[1]["body"]["messages"]]
    assert second_history == [("user", LONG_PROMPT), ("assistant", f"Echo: {LONG_PROMPT}"), ("user", "and then?")]

    usage = hub_app.client().get("/api/usage", params={"limit": 20}).json()["data"]
    console_rows = [row for row in usage if row["source"] == "console"]
    assert {row["requested_model"] for row in console_rows} == {"alpha", "beta"}
    assert "cancelled" in {row["status"] for row in console_rows}


def test_an_error_shows_in_its_own_column_and_export_holds_both(compare: Page) -> None:
    page = compare
    ask(page, "hello both", "fast", "broken")
    expect(column(page, 1).get_by_test_id("column-error")).to_contain_text("failed")
    expect(column(page, 0).get_by_test_id("answer")).to_contain_text("Echo: hello both")
    expect(column(page, 0).get_by_test_id("column-error")).to_have_count(0)

    page.get_by_role("button", name="Export").click()
    with page.expect_download() as download:
        page.get_by_text("Export as JSON").click()
    document = json.loads(Path(download.value.path()).read_text())
    assert [c["model"] for c in document["columns"]] == ["fast", "broken"]
    assert document["columns"][0]["messages"][1]["content"] == "Echo: hello both"
    assert "failed" in document["columns"][1]["messages"][1]["error"]
    page.get_by_role("button", name="Export").click()
    with page.expect_download() as download:
        page.get_by_text("Export as Markdown").click()
    markdown = Path(download.value.path()).read_text()
    assert "## fast" in markdown and "## broken" in markdown and "Echo: hello both" in markdown

    page.get_by_role("button", name="New").click()
    expect(column(page, 0).get_by_test_id("answer")).to_have_count(0)
    page.get_by_role("button", name="Conversations").click()
    page.get_by_label("Search conversations").fill("hello")
    expect(page.get_by_test_id("conversation-item")).to_have_count(1)
    page.get_by_test_id("conversation-item").get_by_text("hello both").click()
    expect(column(page, 0).get_by_test_id("answer")).to_contain_text("Echo: hello both")
    expect(column(page, 1).get_by_test_id("column-error")).to_be_visible()
    expect(column(page, 1).get_by_label("Model")).to_have_value("broken")


def test_a_comparison_lives_in_its_url_reload_new_tab_and_back(compare: Page, browser: Browser, hub_app: RunningApp) -> None:
    page = compare
    ask(page, "remember this one", "fast", "claude")
    expect(page).to_have_url(re.compile(r"/compare\?conversation=\d+$"))
    shared = page.url
    conversation = shared.rsplit("=", 1)[1]

    page.reload()
    expect(column(page, 0).get_by_test_id("answer")).to_contain_text("Echo: remember this one")
    expect(column(page, 1).get_by_label("Model")).to_have_value("claude")
    expect(page.get_by_test_id("conversation-title")).to_have_text("remember this one")
    page.get_by_role("button", name="Export").click()
    with page.expect_download() as download:
        page.get_by_text("Export as JSON").click()
    assert download.value.suggested_filename == f"comparison-{conversation}.json"
    assert json.loads(Path(download.value.path()).read_text())["columns"][0]["messages"][1]["content"] == "Echo: remember this one"

    other = signed_in_page(browser, hub_app.url)  # a new tab of the same person
    other.goto(shared)
    expect(column(other, 0).get_by_test_id("answer")).to_contain_text("Echo: remember this one")
    other.context.close()

    page.get_by_role("button", name="New").click()
    expect(page).to_have_url(hub_app.url + "/compare")
    expect(column(page, 0).get_by_test_id("answer")).to_have_count(0)
    page.go_back()
    connected(page)
    expect(page).to_have_url(shared)
    expect(column(page, 0).get_by_test_id("answer")).to_contain_text("Echo: remember this one")

    page.get_by_role("button", name="Conversations").click()  # the list's items are links too
    item = page.get_by_test_id("conversation-item").filter(has_text="remember this one").get_by_role("link")
    expect(item).to_have_attribute("href", f"/compare?conversation={conversation}")

    page.goto(hub_app.url + "/compare?conversation=999999")  # not there (or not yours): a fresh comparison, a clean URL
    expect(page.get_by_text("That conversation does not exist")).to_be_visible()
    expect(page).to_have_url(hub_app.url + "/compare")


def test_on_a_phone_the_composer_is_in_view_from_the_start_and_stays_there(browser: Browser, hub_app: RunningApp) -> None:
    phone = signed_in_page(browser, hub_app.url, width=390, height=844)
    phone.goto(hub_app.url + "/compare")
    prompt = phone.get_by_label("Prompt", exact=True)
    expect(prompt).to_be_in_viewport()  # under two stacked columns, yet in view
    send(phone, LONG_PROMPT)
    wait_until_answered(phone, 0, 1)
    phone.mouse.wheel(0, 400)  # scroll through the answers: the composer stays at the bottom of the window
    expect(prompt).to_be_in_viewport()
    assert phone.get_by_test_id("composer").evaluate("el => getComputedStyle(el).position") == "sticky"
    screenshot(phone, "compare-composer-390", full_page=False)
    phone.context.close()


def test_model_output_html_is_shown_as_text_never_run(compare: Page) -> None:
    page = compare
    ask(page, "<script>window.__pwned = 1</script>", "fast", "claude")
    send(page, '<img src=x onerror="window.__pwned = 2">')
    wait_until_answered(page, 0, 1)
    for index in (0, 1):
        answers = column(page, index).get_by_test_id("answer")
        expect(answers.nth(0)).to_contain_text("Echo: <script>window.__pwned = 1</script>")
        expect(answers.nth(1)).to_contain_text('<img src=x onerror="window.__pwned = 2">')
        expect(column(page, index).locator("img[src=x]")).to_have_count(0)
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_images_settings_and_maximise(compare: Page, emulator: EmulatorHandle, tmp_path: Path) -> None:
    page = compare
    emulator.reset()
    pick_model(page, 0, "fast")
    pick_model(page, 1, "textonly")
    image = tmp_path / "dot.png"
    image.write_bytes(PNG_1X1)
    page.locator("input[type=file]").set_input_files(image)
    expect(page.get_by_role("button", name="Remove image")).to_be_visible()
    expect(page.get_by_test_id("column-warning-1")).to_contain_text("gpt-3.5-turbo does not accept images")
    send(page, "what is in the picture?", accepted=False)
    expect(page.locator(".q-notification")).to_contain_text("Remove the image or pick another model")
    expect(column(page, 0).get_by_test_id("prompt")).to_have_count(0)  # nothing was sent
    pick_model(page, 1, "claude")
    expect(page.get_by_test_id("column-warning-1")).to_be_hidden()

    column(page, 0).get_by_role("button", name="Column settings").click()
    settings = page.get_by_test_id("column-settings")
    settings.get_by_label("System prompt").fill("Answer in one word.")
    settings.get_by_role("button", name="Apply").click()
    expect(settings).to_have_count(0)
    expect(column(page, 0)).to_contain_text("system prompt")
    send(page, "what is in the picture?")
    wait_until_answered(page, 0, 1)
    expect(column(page, 0).get_by_test_id("prompt").locator("img")).to_have_count(1)
    body = upstream_calls(emulator, "ok#compare-e2e-o")[-1]["body"]
    assert body["messages"][0] == {"role": "system", "content": "Answer in one word."}
    assert body["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")

    column(page, 1).get_by_role("button", name="Maximise column").click()
    expect(column(page, 0)).to_have_count(0)
    screenshot(page, "compare-maximised-1280")
    column(page, 1).get_by_role("button", name="Restore columns").click()
    expect(column(page, 0)).to_be_visible()


REVEALING = re.compile(r"TTFT|tok/s|\d+ (prompt|completion)|\d+ tokens of context|\$|emu-|\d ms\b")
"""What could tell the hidden models apart: speed, token counts (a tokenizer), cost, the route."""


def no_metric_is_visible(page: Page) -> None:
    for index in (0, 1):
        each = column(page, index)
        expect(each.get_by_test_id("metrics")).to_have_text("Speed, tokens and cost show after your vote.")
        expect(each.get_by_test_id(f"context-{index}")).to_have_text("Context hidden until the vote")
        expect(each).not_to_contain_text(REVEALING)


def test_blind_vote_reveals_the_names_and_updates_the_leaderboard(compare: Page, hub_app: RunningApp) -> None:
    page = compare
    pick_model(page, 0, "fast")
    pick_model(page, 1, "claude")
    page.get_by_text("Blind mode").click()
    dialog = page.get_by_test_id("blind-dialog")
    dialog.get_by_role("button", name="Start").click()
    expect(column(page, 0).get_by_test_id("column-name")).to_have_text("Model A")
    expect(column(page, 1).get_by_test_id("column-name")).to_have_text("Model B")
    send(page, "which of you is better?")
    wait_until_answered(page, 0, 1)
    no_metric_is_visible(page)
    screenshot(page, "compare-blind-1280")
    page.get_by_role("button", name="A is better").click()
    expect(page.get_by_test_id("blind-revealed")).to_contain_text("Model A: ")
    for index in (0, 1):  # revealed: now the figures may show
        expect(column(page, index).get_by_test_id("metrics")).to_contain_text("TTFT")
        expect(column(page, index).get_by_test_id("metrics")).to_contain_text("completion tokens")
    revealed = page.get_by_test_id("blind-revealed").inner_text()
    winner = "fast" if "Model A: fast" in revealed else "claude"
    loser = "claude" if winner == "fast" else "fast"

    page.goto(hub_app.url + "/leaderboard")
    board = page.get_by_test_id("leaderboard")
    expect(board.locator("tbody tr")).to_have_count(2)
    expect(board.locator("tbody tr").nth(0)).to_contain_text(winner)
    expect(board.locator("tbody tr").nth(0)).to_contain_text("1131")  # Bradley–Terry, one win and the prior's virtual ties
    expect(board.locator("tbody tr").nth(1)).to_contain_text(loser)
    expect(board.locator("tbody tr").nth(1)).to_contain_text("869")
    screenshot(page, "leaderboard-1280")
    phone = signed_in_page(page.context.browser, hub_app.url, width=390)  # type: ignore[arg-type]
    phone.goto(hub_app.url + "/leaderboard")
    expect(phone.get_by_test_id("leaderboard").locator("tbody tr")).to_have_count(2)
    screenshot(phone, "leaderboard-390")
    phone.context.close()


def test_templates_fill_variables_from_the_slash_picker(compare: Page, hub_app: RunningApp) -> None:
    page = compare
    page.goto(hub_app.url + "/templates")
    page.get_by_role("button", name="New template").click()
    editor = page.get_by_test_id("template-editor")
    editor.get_by_label("Name").fill("Explain topic")
    editor.get_by_label("Template text").fill("Explain {{topic}} to {{user}} on {{date}}")
    editor.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("templates-table")).to_contain_text("Explain topic")
    screenshot(page, "templates-1280")
    phone = signed_in_page(page.context.browser, hub_app.url, width=390)  # type: ignore[arg-type]
    phone.goto(hub_app.url + "/templates")
    expect(phone.get_by_test_id("templates-table")).to_contain_text("Explain topic")
    screenshot(phone, "templates-390")
    phone.context.close()

    page.goto(hub_app.url + "/compare")
    page.get_by_label("Prompt", exact=True).press_sequentially("/expl")
    page.get_by_test_id("template-option").first.click()
    form = page.get_by_test_id("template-form")
    form.get_by_label("topic").fill("tides")
    form.get_by_role("button", name="Use template").click()
    filled = re.compile(rf"^Explain tides to {re.escape(ADMIN_EMAIL)} on \d{{4}}-\d{{2}}-\d{{2}}$")  # {{user}}: no name set
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(filled)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_screenshots_two_and_four_columns(browser: Browser, hub_app: RunningApp, dark: bool) -> None:
    theme = "dark" if dark else "light"
    for width in (1280, 390):
        page = signed_in_page(browser, hub_app.url, width=width, height=900)
        page.goto(hub_app.url + "/compare")
        set_dark_mode(page, dark)
        ask(page, "Show a list and some code:\n\n- first\n- second\n\n```python\nprint('hi')\n```", "fast", "claude")
        copy_code = column(page, 0).get_by_test_id("answer").get_by_role("button", name="Copy code")
        copy_code.click()
        expect(copy_code).to_have_text("Copied")
        screenshot(page, f"compare-2col-{theme}-{width}")
        page.get_by_role("button", name="Add column").click()
        page.get_by_role("button", name="Add column").click()
        expect(column(page, 3)).to_be_visible()
        send(page, "And four at once?")
        wait_until_answered(page, 0, 1, 2, 3)
        screenshot(page, f"compare-4col-{theme}-{width}")
        if width == 1280 and not dark:
            check_scroll_together(page)
        set_dark_mode(page, False)
        page.context.close()


def check_scroll_together(page: Page) -> None:
    boxes = "document.querySelectorAll('.chat-scroll')"
    page.get_by_text("Scroll together").click()
    page.wait_for_function("() => window.llmhubScrollTogether === true")
    page.evaluate(f"() => {{ const box = {boxes}[0]; box.scrollTop = -box.scrollHeight; }}")
    page.wait_for_function(f"() => {boxes}[1].scrollTop < -10")  # the other long column followed up

