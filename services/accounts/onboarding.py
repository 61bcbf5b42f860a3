"""The first-run checklist on the console's Home page: from a fresh install to a first call.

Each step is read from the data itself (a key exists, a model exists, the person has a token, a call
went through the gateway), so the list ticks itself off whichever page or API did the work. Every
check is an existence query that stops at the first row; the page polls it only while a step is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from services.tables import GatewayToken, LogicalModel, ProviderKey, UsageRecord


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    title: str
    hint: str
    link: str
    link_text: str
    done: bool


@dataclass(frozen=True, slots=True)
class Checklist:
    steps: tuple[Step, ...]

    @property
    def complete(self) -> bool:
        return all(step.done for step in self.steps)

    @property
    def done_count(self) -> int:
        return sum(step.done for step in self.steps)


def _exists(session: Session, query: SelectOfScalar[Any]) -> bool:
    return session.exec(query.limit(1)).first() is not None


def checklist(engine: Engine, user_id: int, *, is_admin: bool) -> Checklist:
    """The steps this person can take (an admin's include the catalog), each marked done or not.

    The first call counts calls through the API (``source="api"``): the admin's view counts anyone's,
    a user's only their own. Console calls (Compare, try-it) do not count: the point is a program calling.
    """
    with Session(engine) as session:
        has_key = _exists(session, select(ProviderKey.id))
        has_model = _exists(session, select(LogicalModel.id))
        has_token = _exists(session, select(GatewayToken.id).where(
            GatewayToken.user_id == user_id, col(GatewayToken.revoked_at).is_(None)))
        calls = select(UsageRecord.id).where(UsageRecord.source == "api")
        has_call = _exists(session, calls if is_admin else calls.where(UsageRecord.user_id == user_id))
    steps = [
        Step("token", "Create a gateway token", "Programs use it as their API key.", "/profile", "Profile → New token", has_token),
        Step("call", "Make a first call", "Paste the snippet shown with your new token, or the one below.", "/logs",
             "See it in Logs", has_call),
    ]
    if is_admin:
        steps[:0] = [
            Step("provider", "Add a provider and its key", "OpenAI, Anthropic, Gemini, Ollama or any OpenAI-compatible server.",
                 "/keys", "Keys → Add provider", has_key),
            Step("model", "Add a model", "A name clients ask for (e.g. smart), routed to one or more provider models.",
                 "/models", "Models → New model", has_model),
        ]
    return Checklist(tuple(steps))
