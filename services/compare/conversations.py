"""Saved comparisons: the in-memory shape of a conversation, its storage, and its exports.

A conversation is a list of columns; each column has its own model, settings and message history.
Saving replaces the stored columns and messages of the conversation in one transaction, so a
reopened conversation is exactly what was on the screen after the last turn.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from services.clock import utcnow
from services.compare.tables import (
    Conversation,
    ConversationColumn,
    ConversationMessage,
    stored_id,
)
from services.db import session_scope
from services.errors import CompareError, ConversationNotFound
from services.gateway.pricing import format_usd

TITLE_LENGTH = 60
MIN_RATE_TOKENS = 20
MIN_RATE_SECONDS = 0.5
DEFAULT_TITLE = "New comparison"


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(slots=True)
class ColumnSettings:
    """Sampling settings of one column. ``top_p`` is sent only when changed from 1 (some models refuse both)."""

    system_prompt: str = ""
    temperature: float = 0.7
    max_tokens: int = 1024
    top_p: float = 1.0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ColumnSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass(slots=True)
class TurnMetrics:
    """What one answer cost and how fast it came, plus the route that served it."""

    ttft_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = True  # token counts are estimates until the provider reports usage
    cost_micros: int | None = None
    provider: str | None = None
    upstream_model: str | None = None
    key_label: str | None = None
    request_id: str | None = None

    @property
    def tokens_per_second(self) -> float | None:
        """Completion tokens per second of generating (after the first token), or None while that would not mean
        much: fewer than ``MIN_RATE_TOKENS`` tokens or ``MIN_RATE_SECONDS`` seconds (a 20 ms burst of cached text
        is not 200,000 tok/s), or token counts that are estimates."""
        if self.total_ms is None or self.ttft_ms is None or self.estimated or self.completion_tokens < MIN_RATE_TOKENS:
            return None
        generating = (self.total_ms - self.ttft_ms) / 1000
        return self.completion_tokens / generating if generating >= MIN_RATE_SECONDS else None

    @property
    def context_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TurnMetrics | None:
        if data is None:
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(slots=True)
class ChatMessage:
    role: str  # "user" | "assistant"
    content: str
    images: list[str] = field(default_factory=list)  # data URLs, user messages only
    metrics: TurnMetrics | None = None
    error: str | None = None
    stopped: bool = False
    note: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    id: str = field(default_factory=new_id)

    @property
    def failed(self) -> bool:
        return self.error is not None and not self.content


@dataclass(slots=True)
class ColumnState:
    model: str
    settings: ColumnSettings = field(default_factory=ColumnSettings)
    messages: list[ChatMessage] = field(default_factory=list)
    label: str | None = None  # blind mode: "Model A"
    id: str = field(default_factory=new_id)

    def last_assistant(self) -> ChatMessage | None:
        return next((m for m in reversed(self.messages) if m.role == "assistant"), None)


@dataclass(slots=True)
class ConversationState:
    columns: list[ColumnState]
    title: str = ""
    id: int | None = None
    blind: bool = False
    revealed: bool = False
    same_settings: bool = False
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    template: str | None = None  # the prompt template the last prompt came from (a vote records it; not saved)

    def column(self, column_id: str) -> ColumnState:
        return next(c for c in self.columns if c.id == column_id)

    def display_name(self, column: ColumnState) -> str:
        """The column's heading: its blind label until the vote reveals the model."""
        if self.blind and column.label and not self.revealed:
            return column.label
        if self.blind and column.label:
            return f"{column.label}: {column.model}"
        return column.model

    def snapshot(self) -> ConversationState:
        """A deep copy to hand to a worker thread while the page keeps changing the original."""
        return copy.deepcopy(self)

    @property
    def has_messages(self) -> bool:
        return any(c.messages for c in self.columns)


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: int
    title: str
    updated_at: datetime
    models: list[str]
    blind: bool


def title_from_prompt(prompt: str) -> str:
    line = " ".join(prompt.split())
    if not line:
        return DEFAULT_TITLE
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


# --- storage -------------------------------------------------------------------------------------


def save_conversation(engine: Engine, user_id: int, state: ConversationState) -> int:
    """Create or replace the stored conversation; returns its id. Only its owner may overwrite it."""
    now = utcnow()
    with session_scope(engine) as session:
        row = _owned(session, user_id, state.id) if state.id is not None else Conversation(user_id=user_id, created_at=now)
        row.title = state.title or DEFAULT_TITLE
        row.blind, row.revealed, row.same_settings, row.updated_at = state.blind, state.revealed, state.same_settings, now
        session.add(row)
        session.flush()
        conversation_id = stored_id(row.id)
        _delete_columns(session, conversation_id)
        for position, column in enumerate(state.columns):
            _insert_column(session, conversation_id, position, column)
        return conversation_id


def _insert_column(session: Session, conversation_id: int, position: int, column: ColumnState) -> None:
    column_row = ConversationColumn(
        conversation_id=conversation_id, position=position, model=column.model, label=column.label, settings=asdict(column.settings),
    )
    session.add(column_row)
    session.flush()
    column_id = stored_id(column_row.id)
    for index, message in enumerate(column.messages):
        session.add(ConversationMessage(
            column_id=column_id, position=index, role=message.role, content=message.content,
            images=message.images or None, metrics=asdict(message.metrics) if message.metrics else None,
            error=message.error, stopped=message.stopped, note=message.note, created_at=message.created_at,
        ))


def _delete_columns(session: Session, conversation_id: int) -> None:
    column_ids = select(ConversationColumn.id).where(ConversationColumn.conversation_id == conversation_id)
    session.exec(delete(ConversationMessage).where(col(ConversationMessage.column_id).in_(column_ids)))
    session.exec(delete(ConversationColumn).where(col(ConversationColumn.conversation_id) == conversation_id))


def _owned(session: Session, user_id: int, conversation_id: int | None) -> Conversation:
    row = session.get(Conversation, conversation_id) if conversation_id is not None else None
    if row is None or row.user_id != user_id:
        raise ConversationNotFound(f"conversation {conversation_id} not found")
    return row


def load_conversation(engine: Engine, user_id: int, conversation_id: int) -> ConversationState:
    with Session(engine) as session:
        row = _owned(session, user_id, conversation_id)
        column_rows = session.exec(
            select(ConversationColumn)
            .where(ConversationColumn.conversation_id == conversation_id)
            .order_by(col(ConversationColumn.position))
        ).all()
        columns = [_column_state(session, column_row) for column_row in column_rows]
    return ConversationState(
        columns=columns, title=row.title, id=row.id, blind=row.blind, revealed=row.revealed,
        same_settings=row.same_settings, created_at=row.created_at, updated_at=row.updated_at,
    )


def _column_state(session: Session, row: ConversationColumn) -> ColumnState:
    message_rows = session.exec(
        select(ConversationMessage).where(ConversationMessage.column_id == row.id).order_by(col(ConversationMessage.position))
    ).all()
    messages = [
        ChatMessage(
            role=m.role, content=m.content, images=list(m.images or []), metrics=TurnMetrics.from_dict(m.metrics),
            error=m.error, stopped=m.stopped, note=m.note, created_at=m.created_at,
        )
        for m in message_rows
    ]
    return ColumnState(model=row.model, settings=ColumnSettings.from_dict(row.settings), messages=messages, label=row.label)


def list_conversations(engine: Engine, user_id: int, *, search: str = "", limit: int = 100) -> list[ConversationSummary]:
    """The user's conversations, newest first; ``search`` matches anywhere in the title, any case."""
    query = select(Conversation).where(Conversation.user_id == user_id)
    if search.strip():
        query = query.where(col(Conversation.title).icontains(search.strip(), autoescape=True))
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc()).limit(limit)).all()
        models: dict[int, list[str]] = {}
        if rows:
            ids = [r.id for r in rows]
            columns = session.exec(
                select(ConversationColumn).where(col(ConversationColumn.conversation_id).in_(ids)).order_by(col(ConversationColumn.position))
            ).all()
            for column in columns:
                models.setdefault(column.conversation_id, []).append(column.model)
    summaries = []
    for row in rows:
        row_id = stored_id(row.id)
        shown = [] if row.blind and not row.revealed else models.get(row_id, [])  # blind pairs stay anonymous until the vote
        summaries.append(ConversationSummary(row_id, row.title, row.updated_at, shown, row.blind))
    return summaries


def rename_conversation(engine: Engine, user_id: int, conversation_id: int, title: str) -> None:
    title = " ".join(title.split())
    if not title:
        raise CompareError("The title cannot be empty.")
    with session_scope(engine) as session:
        row = _owned(session, user_id, conversation_id)
        row.title = title[:200]
        session.add(row)


def delete_conversation(engine: Engine, user_id: int, conversation_id: int) -> None:
    with session_scope(engine) as session:
        row = _owned(session, user_id, conversation_id)
        _delete_columns(session, conversation_id)
        session.delete(row)


# --- export --------------------------------------------------------------------------------------


def export_json(state: ConversationState) -> str:
    """Every column with its settings and messages. Blind model names stay hidden until revealed."""
    hidden = state.blind and not state.revealed
    document = {
        "title": state.title or DEFAULT_TITLE,
        "created_at": state.created_at.isoformat(),
        "updated_at": state.updated_at.isoformat(),
        "blind": state.blind,
        "columns": [
            {
                "label": column.label,
                "model": None if hidden else column.model,
                "settings": asdict(column.settings),
                "messages": [_message_json(m, hidden) for m in column.messages],
            }
            for column in state.columns
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _message_json(message: ChatMessage, hidden: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content, "created_at": message.created_at.isoformat()}
    for name in ("error", "note"):
        if getattr(message, name):
            data[name] = getattr(message, name)
    if message.stopped:
        data["stopped"] = True
    if message.images:
        data["images"] = message.images
    if message.metrics:
        metrics = asdict(message.metrics)
        if hidden:
            for name in ("provider", "upstream_model", "key_label", "cost_micros"):  # each of them names the model
                metrics.pop(name)
        data["metrics"] = metrics
    return data


def export_markdown(state: ConversationState) -> str:
    lines = [f"# {state.title or DEFAULT_TITLE}", "", f"Exported {utcnow():%Y-%m-%d %H:%M} UTC · {len(state.columns)} columns", ""]
    for column in state.columns:
        lines += [f"## {state.display_name(column)}", ""]
        if column.settings.system_prompt:
            lines += [f"*System prompt:* {column.settings.system_prompt}", ""]
        s = column.settings
        lines += [f"*Settings:* temperature {s.temperature}, max tokens {s.max_tokens}, top p {s.top_p}", ""]
        for message in column.messages:
            lines += _message_markdown(message, hidden=state.blind and not state.revealed)
    return "\n".join(lines).rstrip() + "\n"


def _message_markdown(message: ChatMessage, *, hidden: bool) -> list[str]:
    heading = "**You**" if message.role == "user" else "**Assistant**"
    if message.stopped:
        heading += " (stopped)"
    if message.note:
        heading += f" ({message.note})"
    lines = [heading, ""]
    if message.content:
        lines += [message.content, ""]
    if message.images:
        lines += [f"*[{len(message.images)} image(s) attached]*", ""]
    if message.error:
        lines += [f"> Error: {message.error}", ""]
    if message.metrics:
        m = message.metrics
        cost = "" if hidden else f" · {format_usd(m.cost_micros)}"
        lines += [f"*{m.prompt_tokens} prompt + {m.completion_tokens} completion tokens{cost}*", ""]
    return lines
