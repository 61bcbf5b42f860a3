"""Prompt templates: private to their owner, or shared with everyone by an admin.

A template's body may hold variables written ``{{name}}``; the compare page asks for them in a
small form. ``{{date}}`` (today, UTC, ``YYYY-MM-DD``) and ``{{user}}`` (the user's name) are
filled in automatically.

Who may do what: everyone sees their own templates and the shared ones; only admins create shared
templates or share existing ones; the owner edits and deletes their own, admins also any shared one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from services.clock import utcnow
from services.compare.tables import PromptTemplate, stored_id
from services.db import session_scope
from services.errors import TemplateError, TemplateNotAllowed

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
BUILT_INS = ("date", "user")
NAME_LIMIT = 80
BODY_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class TemplateActor:
    user_id: int
    is_admin: bool
    name: str


@dataclass(frozen=True, slots=True)
class TemplateView:
    id: int
    name: str
    body: str
    shared: bool
    owner_id: int
    editable: bool

    @property
    def variables(self) -> list[str]:
        return variables_of(self.body)


def variables_of(body: str) -> list[str]:
    """The variables a user must fill in, in order of first use; the built-ins are not among them."""
    seen: list[str] = []
    for name in VARIABLE.findall(body):
        if name not in BUILT_INS and name not in seen:
            seen.append(name)
    return seen


def fill(body: str, values: dict[str, str], *, user: str, today: date | None = None) -> str:
    """The prompt text: every ``{{name}}`` replaced; a variable without a value is an error."""
    known = {"date": (today or utcnow().date()).isoformat(), "user": user, **values}
    missing = [name for name in variables_of(body) if not str(values.get(name, "")).strip()]
    if missing:
        raise TemplateError("Fill in: " + ", ".join(missing))
    return VARIABLE.sub(lambda match: str(known[match.group(1)]), body)


def _may_edit(actor: TemplateActor, row: PromptTemplate) -> bool:
    return row.owner_id == actor.user_id or (actor.is_admin and row.shared)


def _view(actor: TemplateActor, row: PromptTemplate) -> TemplateView:
    return TemplateView(stored_id(row.id), row.name, row.body, row.shared, row.owner_id, _may_edit(actor, row))


def _clean(name: str, body: str) -> tuple[str, str]:
    name = " ".join(name.split())
    if not name:
        raise TemplateError("The name cannot be empty.")
    if len(name) > NAME_LIMIT:
        raise TemplateError(f"The name is longer than {NAME_LIMIT} characters.")
    if not body.strip():
        raise TemplateError("The template text cannot be empty.")
    if len(body) > BODY_LIMIT:
        raise TemplateError(f"The template text is longer than {BODY_LIMIT} characters.")
    return name, body


def _check_sharing(actor: TemplateActor, shared: bool) -> None:
    if shared and not actor.is_admin:
        raise TemplateNotAllowed("Only admins can share templates with everyone.")


def list_templates(engine: Engine, actor: TemplateActor, *, search: str = "") -> list[TemplateView]:
    """The actor's own templates and every shared one, by name."""
    query = select(PromptTemplate).where(or_(PromptTemplate.owner_id == actor.user_id, PromptTemplate.shared == True))  # noqa: E712
    if search.strip():
        query = query.where(col(PromptTemplate.name).icontains(search.strip(), autoescape=True))
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(PromptTemplate.name), col(PromptTemplate.id))).all()
    return [_view(actor, row) for row in rows]


def create_template(engine: Engine, actor: TemplateActor, *, name: str, body: str, shared: bool = False) -> TemplateView:
    name, body = _clean(name, body)
    _check_sharing(actor, shared)
    with session_scope(engine) as session:
        row = PromptTemplate(owner_id=actor.user_id, name=name, body=body, shared=shared)
        session.add(row)
        session.flush()
        return _view(actor, row)


def update_template(engine: Engine, actor: TemplateActor, template_id: int, *, name: str, body: str, shared: bool) -> TemplateView:
    name, body = _clean(name, body)
    with session_scope(engine) as session:
        row = _editable(session, actor, template_id)
        _check_sharing(actor, shared and not row.shared)
        row.name, row.body, row.shared, row.updated_at = name, body, shared, utcnow()
        session.add(row)
        return _view(actor, row)


def delete_template(engine: Engine, actor: TemplateActor, template_id: int) -> None:
    with session_scope(engine) as session:
        session.delete(_editable(session, actor, template_id))


def _editable(session: Session, actor: TemplateActor, template_id: int) -> PromptTemplate:
    row = session.get(PromptTemplate, template_id)
    if row is None or not (row.owner_id == actor.user_id or row.shared):
        raise TemplateError("No such template.")
    if not _may_edit(actor, row):
        raise TemplateNotAllowed("Only its owner or an admin can change a shared template.")
    return row
