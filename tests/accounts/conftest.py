"""What the account tests share: a real Hub on a temporary data dir with a hand-moved clock, its
first admin, and helpers to add people and read what they did from the audit log. Every test here runs on
SQLite and on PostgreSQL (``database_backend`` in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from passlib.context import CryptContext
from sqlmodel import Session

from services.accounts import users
from services.accounts.audit import Actor, AuditFilter, list_events
from services.hub import Hub
from services.tables import User
from tests.databases import on_each_database  # noqa: F401  (autouse: the suite runs on both databases)
from tests.factories import FakeClock, local_hub

PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2, with tiny cost parameters: the tests hash dozens of passwords."""
    monkeypatch.setattr(users, "password_context", CryptContext(schemes=["argon2"], argon2__memory_cost=256, argon2__rounds=1))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hub(tmp_path: Path, clock: FakeClock) -> Iterator[Hub]:
    with local_hub(tmp_path / "data", clock=clock) as hub:
        yield hub


@pytest.fixture
def admin(hub: Hub) -> Actor:
    signed_in = hub.accounts.create_first_admin(email="Root@Example.com", name="Root", password=PASSWORD, confirm=PASSWORD, ip="10.0.0.1")
    return Actor(signed_in.user_id, "root@example.com", "10.0.0.1")


def add_user(hub: Hub, admin: Actor, email: str = "ann@example.com", role: str = "user") -> Actor:
    user = hub.accounts.create_user(admin, email=email, name="Ann", role=role, password=PASSWORD)
    return Actor(user.id, user.email, "10.0.0.2")


def stored_user(hub: Hub, user_id: int | None) -> User:
    with Session(hub.engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def actions(hub: Hub, prefix: str | None = None) -> list[str]:
    events, _ = list_events(hub.engine, AuditFilter(action_prefix=prefix), limit=1000)
    return [event.action for event in reversed(events)]
