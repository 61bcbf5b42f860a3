"""Master keys from a config file: admin credentials owned by no person, like ``LLMHUB_MASTER_KEY``,
but set by a config (LiteLLM's ``general_settings.master_key`` imports as one) and stored hashed.

They live in one setting (``master_keys``: label, SHA-256 hash, last four characters); the token
registry reads them once and again after a settings write in this process.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accounts.audit import Actor, record_event
from services.accounts.tokens import MASTER_KEYS, hash_token
from services.clock import utcnow
from services.tables import AppSetting
from services.usage.settings import note_settings_write

Change = Literal["created", "updated", "unchanged"]


def _stored(session: Session) -> list[dict[str, str]]:
    row = session.get(AppSetting, MASTER_KEYS)
    return [e for e in (row.value if row is not None and isinstance(row.value, list) else []) if isinstance(e, dict)]


def _change(entries: list[dict[str, str]], label: str, digest: str) -> Change:
    before = next((e for e in entries if e.get("label") == label), None)
    if before is None:
        return "created"
    return "unchanged" if before.get("hash") == digest else "updated"


def master_key_change(engine: Engine, label: str, raw: str) -> Change:
    """What ``set_master_key`` would do, without doing it (a config's preview)."""
    with Session(engine) as session:
        return _change(_stored(session), label, hash_token(raw))


def set_master_key(engine: Engine, actor: Actor, label: str, raw: str) -> Change:
    """Set (or replace) the master key called ``label``; audited without its value."""
    digest = hash_token(raw)
    with Session(engine) as session:
        entries = _stored(session)
        change = _change(entries, label, digest)
        if change == "unchanged":
            return change
        entries = [e for e in entries if e.get("label") != label] + [{"label": label, "hash": digest, "last4": raw[-4:]}]
        session.merge(AppSetting(key=MASTER_KEYS, value=entries, updated_at=utcnow()))
        session.commit()
    note_settings_write()
    record_event(engine, actor, "master_key.set", label, {"key": "…" + raw[-4:]})
    return change
