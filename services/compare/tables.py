"""Tables of the compare page: conversations (columns and their messages), prompt templates, blind-mode votes.

User ids are plain indexed columns, not foreign keys, so that removing a user is never blocked by
their saved comparisons; votes keep no link to a conversation for the same reason (deleting a
conversation must not rewrite the leaderboard).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from services.clock import utcnow


class Conversation(SQLModel, table=True):
    __table_args__ = (Index("ix_conversation_user_updated", "user_id", "updated_at"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int
    title: str = ""
    blind: bool = False
    revealed: bool = False  # blind mode: the model names were shown after the vote
    same_settings: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ConversationColumn(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    position: int
    model: str
    label: str | None = None  # "Model A" in blind mode
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))  # ColumnSettings as a dict


class ConversationMessage(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    column_id: int = Field(foreign_key="conversationcolumn.id", index=True)
    position: int
    role: str  # "user" | "assistant"
    content: str = ""
    images: list[str] | None = Field(default=None, sa_column=Column(JSON))  # data URLs
    metrics: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # TurnMetrics as a dict
    error: str | None = None
    stopped: bool = False
    note: str | None = None  # e.g. "copied from Model A"
    created_at: datetime = Field(default_factory=utcnow)


class PromptTemplate(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(index=True)
    name: str
    body: str
    shared: bool = False  # visible to everyone; only admins may share
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class BlindVote(SQLModel, table=True):
    """One vote on a pair of answers: a blind vote in the console, or one posted by a script
    (``POST /api/leaderboard/votes``). Model A is the left column."""

    __table_args__ = (Index("ix_blindvote_created", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = None  # who voted; None: the master key
    model_a: str
    model_b: str
    outcome: str  # "a" | "b" | "tie" | "both_bad"
    template: str | None = Field(default=None, index=True)  # the prompt template the judged prompt came from
    created_at: datetime = Field(default_factory=utcnow)


def stored_id(row_id: int | None) -> int:
    """The id of a row read from the database or flushed to it (only a row not yet written has none)."""
    if row_id is None:
        raise ValueError("the row has no id yet: it was never flushed to the database")
    return row_id
