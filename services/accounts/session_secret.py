"""The console's session-signing secret: one for every instance on the database, so a person signed in on
one is signed in on all (behind a load balancer, or ``--workers``).

Taken from ``LLMHUB_SESSION_SECRET`` when set; otherwise kept in the database (the ``session_secret``
setting, encrypted with the provider secrets' key like them), made by whichever instance asks first: the
row is inserted only if absent and then read back, so instances starting together all end with the one
that won. An install that kept it in ``<data dir>/session.key`` (before it lived in the database) carries
that value over, so nobody is signed out by the upgrade.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from services.clock import utcnow
from services.crypto import SecretBox
from services.db import insert_unless_present
from services.usage.tables import APP_SETTING

SESSION_SECRET = "session_secret"
LEGACY_FILE_NAME = "session.key"


def console_session_secret(engine: Engine, box: SecretBox, legacy_dir: Path, configured: str | None = None) -> str:
    """``configured`` (``LLMHUB_SESSION_SECRET``), or the database's secret, created once if there is none."""
    if configured:
        return configured
    stored = _stored(engine)
    if stored is None:
        legacy = legacy_dir / LEGACY_FILE_NAME
        candidate = legacy.read_text().strip() if legacy.exists() else secrets.token_urlsafe(32)
        with engine.begin() as connection:
            row = {"key": SESSION_SECRET, "value": box.encrypt(candidate), "updated_at": utcnow()}
            connection.execute(insert_unless_present(connection, APP_SETTING).values(**row))
        stored = _stored(engine)
    assert stored is not None  # inserted just now, by this instance or another
    return box.decrypt(stored)


def _stored(engine: Engine) -> str | None:
    with engine.connect() as connection:
        value = connection.execute(select(APP_SETTING.c.value).where(APP_SETTING.c.key == SESSION_SECRET)).scalar()
    return value if isinstance(value, str) else None
