"""Compare page services without a network: conversations and templates (votes: ``test_leaderboard.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from services.compare.conversations import (
    ChatMessage,
    ColumnSettings,
    ColumnState,
    ConversationState,
    TurnMetrics,
    delete_conversation,
    export_json,
    export_markdown,
    list_conversations,
    load_conversation,
    rename_conversation,
    save_conversation,
    title_from_prompt,
)
from services.compare.templates import (
    TemplateActor,
    create_template,
    delete_template,
    fill,
    list_templates,
    update_template,
    variables_of,
)
from services.errors import (
    CompareError,
    ConversationNotFound,
    TemplateError,
    TemplateNotAllowed,
)
from tests.factories import fresh_engine

ALICE = TemplateActor(user_id=1, is_admin=False, name="Alice")
BOB = TemplateActor(user_id=2, is_admin=False, name="Bob")
ADMIN = TemplateActor(user_id=3, is_admin=True, name="Ada")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = fresh_engine(tmp_path)
    yield engine
    engine.dispose()


def two_columns() -> ConversationState:
    metrics = TurnMetrics(ttft_ms=120.0, total_ms=900.0, prompt_tokens=5, completion_tokens=7, estimated=False,
                          cost_micros=42, provider="emu", upstream_model="gpt-4o", key_label="primary", request_id="req_1")
    left = ColumnState(
        model="alpha", settings=ColumnSettings(system_prompt="Be brief.", temperature=0.2, max_tokens=256, top_p=0.9),
        messages=[ChatMessage("user", "Hello <b>there</b>", images=["data:image/png;base64,AAAA"]),
                  ChatMessage("assistant", "Echo: left answer", metrics=metrics)],
    )
    right = ColumnState(
        model="beta",
        messages=[ChatMessage("user", "Hello <b>there</b>"), ChatMessage("assistant", "", error="Incorrect API key provided.")],
    )
    return ConversationState(columns=[left, right], title=title_from_prompt("Hello <b>there</b>"), same_settings=False)


def test_save_and_restore_every_column_with_model_settings_and_history(engine: Engine) -> None:
    state = two_columns()
    state.id = save_conversation(engine, 1, state)
    restored = load_conversation(engine, 1, state.id)
    assert [c.model for c in restored.columns] == ["alpha", "beta"]
    left, right = restored.columns
    assert left.settings == ColumnSettings(system_prompt="Be brief.", temperature=0.2, max_tokens=256, top_p=0.9)
    assert [(m.role, m.content) for m in left.messages] == [("user", "Hello <b>there</b>"), ("assistant", "Echo: left answer")]
    assert left.messages[0].images == ["data:image/png;base64,AAAA"]
    assert left.messages[1].metrics == state.columns[0].messages[1].metrics
    assert right.messages[1].error == "Incorrect API key provided." and right.messages[1].failed
    assert restored.title == "Hello <b>there</b>"


def test_saving_again_replaces_the_stored_turns(engine: Engine) -> None:
    state = two_columns()
    state.id = save_conversation(engine, 1, state)
    state.columns[0].messages.append(ChatMessage("user", "And again?"))
    state.columns.pop()
    assert save_conversation(engine, 1, state) == state.id
    restored = load_conversation(engine, 1, state.id)
    assert len(restored.columns) == 1 and restored.columns[0].messages[-1].content == "And again?"


def test_conversations_belong_to_their_owner(engine: Engine) -> None:
    state = two_columns()
    state.id = save_conversation(engine, 1, state)
    for call in (lambda: load_conversation(engine, 2, state.id), lambda: save_conversation(engine, 2, state),
                 lambda: rename_conversation(engine, 2, state.id, "mine"), lambda: delete_conversation(engine, 2, state.id)):
        with pytest.raises(ConversationNotFound):
            call()
    assert list_conversations(engine, 2) == []


def test_list_search_rename_and_delete(engine: Engine) -> None:
    first = two_columns()
    first.id = save_conversation(engine, 1, first)
    second = two_columns()
    second.title = "Haiku about 100% cotton"
    second.id = save_conversation(engine, 1, second)
    assert [s.id for s in list_conversations(engine, 1)] == [second.id, first.id]
    assert [s.title for s in list_conversations(engine, 1, search="HAIKU")] == ["Haiku about 100% cotton"]
    assert [s.id for s in list_conversations(engine, 1, search="100%")] == [second.id]
    assert list_conversations(engine, 1, search="_") == []  # wildcards are matched literally
    assert list_conversations(engine, 1)[0].models == ["alpha", "beta"]
    rename_conversation(engine, 1, first.id, "  Greetings   test ")
    assert load_conversation(engine, 1, first.id).title == "Greetings test"
    with pytest.raises(CompareError):
        rename_conversation(engine, 1, first.id, "   ")
    delete_conversation(engine, 1, first.id)
    assert [s.id for s in list_conversations(engine, 1)] == [second.id]


def test_export_json_and_markdown_hold_every_column() -> None:
    state = two_columns()
    document = json.loads(export_json(state))
    assert [c["model"] for c in document["columns"]] == ["alpha", "beta"]
    assert document["columns"][0]["messages"][1]["metrics"]["cost_micros"] == 42
    assert document["columns"][1]["messages"][1]["error"] == "Incorrect API key provided."
    markdown = export_markdown(state)
    assert "## alpha" in markdown and "## beta" in markdown
    assert "Echo: left answer" in markdown and "Error: Incorrect API key provided." in markdown
    assert "*System prompt:* Be brief." in markdown


def test_blind_exports_hide_the_models_until_revealed() -> None:
    state = two_columns()
    state.blind = True
    state.columns[0].label, state.columns[1].label = "Model A", "Model B"
    document = json.loads(export_json(state))
    assert [c["model"] for c in document["columns"]] == [None, None]
    assert not {"provider", "cost_micros"} & set(document["columns"][0]["messages"][1]["metrics"])
    assert "alpha" not in export_markdown(state) and "## Model A" in export_markdown(state)
    state.revealed = True
    assert "## Model A: alpha" in export_markdown(state)


def test_title_from_prompt() -> None:
    assert title_from_prompt("  many\n words   here ") == "many words here"
    assert title_from_prompt("") == "New comparison"
    long = title_from_prompt("x" * 200)
    assert len(long) == 60 and long.endswith("…")


# --- templates -----------------------------------------------------------------------------------


def test_variables_and_built_ins() -> None:
    body = "Dear {{ name }}, on {{date}} {{user}} asks about {{topic}} and {{name}} again."
    assert variables_of(body) == ["name", "topic"]
    text = fill(body, {"name": "Bo", "topic": "tea"}, user="Alice", today=date(2026, 11, 5))
    assert text == "Dear Bo, on 2026-11-05 Alice asks about tea and Bo again."
    with pytest.raises(TemplateError, match="topic"):
        fill(body, {"name": "Bo", "topic": " "}, user="Alice")


def test_private_templates_are_their_owners_own(engine: Engine) -> None:
    mine = create_template(engine, ALICE, name="Summarise", body="Summarise {{text}}")
    assert [t.name for t in list_templates(engine, ALICE)] == ["Summarise"]
    assert list_templates(engine, BOB) == []
    with pytest.raises(TemplateError):
        update_template(engine, BOB, mine.id, name="x", body="y", shared=False)
    with pytest.raises(TemplateError):
        delete_template(engine, BOB, mine.id)
    updated = update_template(engine, ALICE, mine.id, name="Summary", body="Sum up {{text}}", shared=False)
    assert (updated.name, updated.variables) == ("Summary", ["text"])
    delete_template(engine, ALICE, mine.id)
    assert list_templates(engine, ALICE) == []


def test_only_admins_share_and_change_shared_templates(engine: Engine) -> None:
    with pytest.raises(TemplateNotAllowed):
        create_template(engine, ALICE, name="Everyone", body="hi", shared=True)
    private = create_template(engine, ALICE, name="Mine", body="hi")
    with pytest.raises(TemplateNotAllowed):
        update_template(engine, ALICE, private.id, name="Mine", body="hi", shared=True)
    shared = create_template(engine, ADMIN, name="Team", body="Review {{code}}", shared=True)
    seen_by_bob = list_templates(engine, BOB)
    assert [(t.name, t.shared, t.editable) for t in seen_by_bob] == [("Team", True, False)]
    with pytest.raises(TemplateNotAllowed):
        update_template(engine, BOB, shared.id, name="Hijack", body="x", shared=True)
    with pytest.raises(TemplateNotAllowed):
        delete_template(engine, BOB, shared.id)
    other_admin = TemplateActor(user_id=9, is_admin=True, name="Root")
    assert update_template(engine, other_admin, shared.id, name="Team review", body="Review {{code}}", shared=True).name == "Team review"
    assert [t.name for t in list_templates(engine, ALICE)] == ["Mine", "Team review"]


def test_template_input_is_validated(engine: Engine) -> None:
    for name, body in (("", "text"), ("name", "  "), ("x" * 81, "text")):
        with pytest.raises(TemplateError):
            create_template(engine, ALICE, name=name, body=body)
