"""The compare orchestration against a real Hub and the upstream emulator: parallel columns,
separate histories, stopping one column, errors in one column, images, metering."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from services.accounts.tokens import Principal
from services.compare.comparisons import (
    ColumnRun,
    Comparison,
    new_blind_conversation,
    new_conversation,
    prompt_estimate,
    request_body,
    restart,
)
from services.compare.conversations import (
    ChatMessage,
    ColumnSettings,
    ColumnState,
    ConversationState,
    TurnMetrics,
)
from services.errors import CompareError
from services.gateway.model_limits import default_limits
from services.gateway.token_count import TOKENIZERS, Tokenizers, estimate_tokens
from services.hub import Hub
from services.tables import UsageRecord
from tests.factories import emulated_hub, wait_until_async
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu-openai
    kind: openai
    base_url: {url}/v1
    keys: [{{label: primary, secret: "ok#cmp-openai"}}]
  - name: emu-anthropic
    kind: anthropic
    base_url: {url}
    keys: [{{label: main, secret: "ok#cmp-anthropic"}}]
  - name: emu-gemini
    kind: gemini
    base_url: {url}
    keys: [{{label: slow, secret: "drip:0.3#cmp-gemini"}}]
  - name: dead
    kind: openai
    base_url: {url}/v1
    keys: [{{label: revoked, secret: "bad-request#cmp-dead"}}]
models:
  - name: alpha
    routes: [{{provider: emu-openai, model: gpt-4o-mini}}]
  - name: beta
    routes: [{{provider: emu-anthropic, model: claude-haiku-4-5}}]
  - name: slowpoke
    routes: [{{provider: emu-gemini, model: gemini-2.5-flash}}]
  - name: broken
    routes: [{{provider: dead, model: gpt-4o}}]
  - name: textonly
    routes: [{{provider: emu-openai, model: gpt-3.5-turbo}}]
"""
USER = Principal(user_id=7, role="user")
PNG = "data:image/png;base64,iVBORw0KGgo="


@pytest.fixture
async def hub(tmp_path: Path, emulator: EmulatorHandle) -> AsyncIterator[Hub]:
    async with emulated_hub(tmp_path / "data", emulator, CONFIG, start=True) as hub:
        emulator.reset()
        yield hub


def comparison(hub: Hub, *models: str, tokenizers: Tokenizers = TOKENIZERS) -> Comparison:
    state = ConversationState(columns=[ColumnState(model=m) for m in models])
    return Comparison(hub.gateway, USER, state, table=lambda: hub.table, limits=default_limits(), tokenizers=tokenizers)


def requests_with_key(emulator: EmulatorHandle, key: str) -> list[dict]:
    return [r for r in emulator.requests() if r["key"] == key]


def test_a_run_hands_out_text_in_batches_not_per_token() -> None:
    run = ColumnRun("c1", prompt_tokens=10)
    for index in range(500):
        run.consume({"choices": [{"delta": {"content": f"w{index} "}}]})
    batch = run.take_new_text()
    assert batch.startswith("w0 w1 ") and batch.endswith("w499 ") and run.take_new_text() == ""
    run.consume({"choices": [{"delta": {"content": "last"}}]})
    assert run.take_new_text() == "last"
    live = run.metrics()
    assert (live.prompt_tokens, live.estimated, live.ttft_ms is not None) == (10, True, True)
    run.consume({"error": {"message": "upstream went away"}})
    run.stop()
    assert run.message is not None and run.message.stopped and run.error == "upstream went away"


async def test_one_prompt_streams_into_every_column_with_metrics(hub: Hub) -> None:
    compare = comparison(hub, "alpha", "beta")
    runs = compare.send("hello there world")
    assert compare.busy
    await compare.wait()
    assert not compare.busy
    assert [r.status for r in runs] == ["done", "done"]
    for column in compare.state.columns:
        assert [(m.role, m.content) for m in column.messages] == [("user", "hello there world"), ("assistant", "Echo: hello there world")]
    metrics = compare.state.columns[0].messages[1].metrics
    assert metrics is not None
    assert (metrics.provider, metrics.upstream_model, metrics.key_label) == ("emu-openai", "gpt-4o-mini", "primary")
    assert (metrics.prompt_tokens, metrics.completion_tokens, metrics.estimated) == (3, 4, False)
    assert metrics.ttft_ms is not None and metrics.total_ms >= metrics.ttft_ms
    assert metrics.cost_micros is not None and metrics.request_id.startswith("req_")
    assert compare.state.columns[1].messages[1].metrics.provider == "emu-anthropic"
    assert compare.state.title == "hello there world"


async def test_the_next_prompt_is_counted_from_the_providers_own_count_of_the_last_turn(hub: Hub) -> None:
    """Mid-stream, a later turn's prompt is the provider's count of the conversation so far (the last prompt and
    answer as it reported them) plus a count of the new message only — not a guess at the whole. With no
    tokenizer for the model, counts are estimates."""
    compare = comparison(hub, "alpha", "beta", tokenizers=Tokenizers(shipped=Path("/nonexistent")))
    compare.send("hello there world")
    await compare.wait()
    column = compare.state.columns[0]
    first = column.messages[1].metrics
    assert first is not None and not first.estimated
    new_message = "and now a much longer second question, with many more characters than words in it"
    column.messages.append(ChatMessage("user", new_message))
    so_far = first.prompt_tokens + first.completion_tokens
    assert prompt_estimate(column, compare.tokenizers, "gpt-4o-mini") == so_far + estimate_tokens(len(new_message))
    column.messages.pop()
    runs = compare.send(new_message)
    assert runs[0].metrics().prompt_tokens == first.prompt_tokens + first.completion_tokens + estimate_tokens(len(new_message))
    await compare.wait()
    final = column.messages[-1].metrics
    assert final is not None and final.prompt_tokens == first.prompt_tokens + first.completion_tokens + len(new_message.split())
    fresh = ColumnState(model="alpha", messages=[ChatMessage("user", "x" * 40)])
    assert prompt_estimate(fresh, compare.tokenizers, "gpt-4o-mini") == 10  # nothing counted yet: the whole is estimated


async def test_a_first_turn_is_counted_with_the_upstream_models_tokenizer(hub: Hub) -> None:
    """Before the provider reports usage, an OpenAI model's prompt is counted as OpenAI counts it (its
    tokenizer, and the few tokens each chat message and the reply priming add), not estimated."""
    TOKENIZERS.encoding("gpt-4o-mini", wait=True)
    compare = comparison(hub, "alpha", "beta")
    compare.state.columns[0].settings.system_prompt = "Be brief."
    runs = compare.send("hello world")
    first = runs[0].metrics()
    # o200k: "hello world" is 2 tokens, "Be brief." 3, each role 1; 3 per message, 3 for the reply
    assert (first.prompt_tokens, first.estimated) == (2 + 3 + 1 + 1 + 3 + 3 + 3, True)
    await compare.wait()


def test_tokens_per_second_only_when_it_means_something() -> None:
    burst = TurnMetrics(ttft_ms=100.0, total_ms=120.0, completion_tokens=64, estimated=False)  # 64 tokens in 20 ms
    assert burst.tokens_per_second is None
    few = TurnMetrics(ttft_ms=100.0, total_ms=2100.0, completion_tokens=5, estimated=False)
    assert few.tokens_per_second is None
    guessed = TurnMetrics(ttft_ms=100.0, total_ms=2100.0, completion_tokens=100, estimated=True)
    assert guessed.tokens_per_second is None
    steady = TurnMetrics(ttft_ms=100.0, total_ms=2100.0, completion_tokens=100, estimated=False)
    assert steady.tokens_per_second == 50.0


async def test_stopping_one_column_leaves_the_other_streaming_and_histories_stay_separate(hub: Hub, emulator: EmulatorHandle) -> None:
    compare = comparison(hub, "slowpoke", "alpha")
    slow_column, fast_column = compare.state.columns
    slow_column.settings = ColumnSettings(system_prompt="You are slow.")
    slow_run, fast_run = compare.send("tell me something")
    await wait_until_async(lambda: slow_run.text, "the first text of the slow column")
    assert slow_run.status == "streaming" and slow_run.text.startswith("Echo:")
    compare.stop(slow_column.id)
    await compare.wait()
    assert slow_run.status == "stopped" and fast_run.status == "done"
    stopped = slow_column.messages[-1]
    assert stopped.stopped and stopped.content.strip() == "Echo:"
    assert fast_column.messages[-1].content == "Echo: tell me something"

    compare.send("and then?")
    await compare.wait()
    gemini_calls = requests_with_key(emulator, "drip:0.3#cmp-gemini")
    openai_calls = requests_with_key(emulator, "ok#cmp-openai")
    assert len(gemini_calls) == 2 and len(openai_calls) == 2
    slow_turns = [(c["role"], " ".join(p["text"] for p in c["parts"]).strip()) for c in gemini_calls[1]["body"]["contents"]]
    assert slow_turns == [("user", "tell me something"), ("model", "Echo:"), ("user", "and then?")]
    assert gemini_calls[1]["body"]["systemInstruction"]["parts"][0]["text"] == "You are slow."
    fast_turns = [(m["role"], m["content"]) for m in openai_calls[1]["body"]["messages"]]
    assert fast_turns == [("user", "tell me something"), ("assistant", "Echo: tell me something"), ("user", "and then?")]

    await hub.recorder.flush()
    with Session(hub.engine) as session:
        rows = session.exec(select(UsageRecord).order_by(UsageRecord.id)).all()
    assert {(r.source, r.user_id) for r in rows} == {("console", 7)}
    assert sorted((r.requested_model, r.status) for r in rows) == [
        ("alpha", "ok"), ("alpha", "ok"), ("slowpoke", "cancelled"), ("slowpoke", "ok"),
    ]


async def test_an_error_stays_in_its_column(hub: Hub) -> None:
    compare = comparison(hub, "broken", "alpha")
    broken_run, good_run = compare.send("hi")
    await compare.wait()
    assert broken_run.status == "error" and good_run.status == "done"
    failed = compare.state.columns[0].messages[-1]
    assert failed.failed and "Invalid request body" in failed.error
    assert compare.state.columns[1].messages[-1].content == "Echo: hi"
    # the failed turn is not sent again as history
    compare.state.columns[0].model = "alpha"
    assert [m["role"] for m in request_body(compare.state.columns[0])["messages"]] == ["user"]


async def test_regenerate_delete_and_continue_with_one_answer(hub: Hub, emulator: EmulatorHandle) -> None:
    compare = comparison(hub, "alpha", "beta")
    compare.send("first")
    await compare.wait()
    left, right = compare.state.columns
    right.messages[-1].content = "a different answer"
    compare.continue_with(right.id)
    assert left.messages[-1].content == "a different answer" and left.messages[-1].note == "copied from beta"
    run = compare.regenerate(left.id)
    await compare.wait()
    assert run.status == "done" and [m.content for m in left.messages] == ["first", "Echo: first"]
    compare.delete_message(left.id, left.messages[-1].id)
    assert [m.role for m in left.messages] == ["user"]
    with pytest.raises(CompareError):
        compare.continue_with(left.id)


async def test_images_go_as_image_parts_and_text_only_models_refuse_them(hub: Hub, emulator: EmulatorHandle) -> None:
    refusing = comparison(hub, "alpha", "textonly")
    with pytest.raises(CompareError, match=r"gpt-3\.5-turbo does not accept images"):
        refusing.send("what is this?", [PNG])
    assert all(not c.messages for c in refusing.state.columns)
    compare = comparison(hub, "alpha", "beta")
    compare.send("what is this?", [PNG])
    await compare.wait()
    openai_body = requests_with_key(emulator, "ok#cmp-openai")[0]["body"]
    assert openai_body["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": PNG}}
    anthropic_body = requests_with_key(emulator, "ok#cmp-anthropic")[0]["body"]
    image = anthropic_body["messages"][0]["content"][1]
    assert image["type"] == "image" and image["source"]["type"] == "base64"


async def test_columns_settings_and_limits(hub: Hub) -> None:
    compare = comparison(hub, "alpha", "beta")
    assert hub.table.model_names()[:5] == ["alpha", "beta", "broken", "slowpoke", "textonly"]
    added = compare.add_column("slowpoke")
    compare.add_column("alpha")
    with pytest.raises(CompareError):
        compare.add_column("alpha")
    compare.set_same_settings(True)
    compare.update_settings(added.id, ColumnSettings(system_prompt="Terse.", temperature=0.1, max_tokens=64, top_p=0.5))
    assert {c.settings.system_prompt for c in compare.state.columns} == {"Terse."}
    compare.set_same_settings(False)
    compare.update_settings(added.id, ColumnSettings(temperature=1.5))
    assert [c.settings.temperature for c in compare.state.columns] == [0.1, 0.1, 1.5, 0.1]
    body = request_body(compare.state.columns[0])
    assert (body["temperature"], body["max_tokens"], body["top_p"]) == (0.1, 64, 0.5)
    assert "top_p" not in request_body(added)
    compare.remove_column(added.id)
    with pytest.raises(CompareError):
        compare.set_model(compare.state.columns[0].id, "nope")
    assert compare.model_limits(compare.state.columns[0]).context == 128000
    assert compare.model_limits(ColumnState(model="emu-openai/unknown-model")).context is None
    with pytest.raises(CompareError):
        comparison(hub, "alpha", "beta").remove_column(compare.state.columns[0].id)


async def test_blind_pair_is_random_hidden_and_voted_once(hub: Hub) -> None:
    state = new_blind_conversation(["alpha", "beta", "alpha"], random.Random(3))
    assert sorted(c.model for c in state.columns) == ["alpha", "beta"]
    assert [state.display_name(c) for c in state.columns] == ["Model A", "Model B"]
    compare = Comparison(hub.gateway, USER, state, table=lambda: hub.table, limits=default_limits())
    with pytest.raises(CompareError):
        compare.vote("a")  # no answers yet
    compare.send("which is better?", template="Code review")
    await compare.wait()
    assert compare.vote("tie") == (state.columns[0].model, state.columns[1].model)
    assert state.template == "Code review"  # what the stored vote will carry
    assert state.revealed and state.display_name(state.columns[0]).startswith("Model A: ")
    with pytest.raises(CompareError):
        compare.vote("a")
    with pytest.raises(CompareError):
        new_blind_conversation(["alpha", "alpha"], random.Random(1))
    assert [c.model for c in new_conversation(["alpha"]).columns] == ["alpha", "alpha"]
    again = restart(state, ["x", "y"])
    assert (again.blind, sorted(c.model for c in again.columns)) == (False, ["alpha", "beta"])
    hidden = new_blind_conversation(["alpha", "beta"], random.Random(1))
    assert [c.model for c in restart(hidden, ["x", "y"]).columns] == ["x", "y"]  # names stay hidden
