"""Token admission on its own (``TokenRegistry``): who a bearer token is, when it stops working, and what
its limits let through. A real SQLite database, a fake clock: the rpm window and expiry move by hand."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.accounts.tokens import TokenRegistry, hash_token, issue_token
from services.clock import to_datetime
from services.errors import GatewayError
from services.tables import GatewayToken, User
from tests.databases import DatabaseUnderTest
from tests.factories import FakeClock, fresh_engine

MASTER = "sk-master-for-admission-tests"
PEOPLE = itertools.count(1)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, database_backend: DatabaseUnderTest) -> Iterator[Engine]:
    """One database for the module (migrating one takes most of a second): every test adds its own people."""
    engine = fresh_engine(tmp_path_factory.mktemp("admission"))  # on database_backend's database (one per module and database)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(engine: Engine, clock: FakeClock) -> TokenRegistry:
    return TokenRegistry(engine, clock, MASTER)


def new_token(engine: Engine, *, status: str = "active", **fields: object) -> str:
    """A fresh person's token, issued with ``fields`` (rpm, allowed_models, expires_at, …)."""
    with Session(engine) as session:
        user = User(email=f"person-{next(PEOPLE)}@example.com", status=status)
        session.add(user)
        session.flush()
        raw = issue_token(session=session, user_id=user.id or 0, name="laptop", **fields).raw  # type: ignore[arg-type]
        session.commit()
    return raw


def refused(action: object) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        action()  # type: ignore[operator]
    return caught.value


def test_who_a_token_is(registry: TokenRegistry, engine: Engine) -> None:
    raw = new_token(engine, rpm=5, allowed_models=["smart"])
    principal = registry.authenticate(raw)
    assert (principal.role, principal.token_name, principal.rpm, principal.allowed_models) == ("user", "laptop", 5, frozenset({"smart"}))
    assert principal.user_id is not None and principal.token_id is not None and not principal.is_admin
    assert registry.authenticate(raw) is principal  # cached: no second database read
    assert registry.authenticate(MASTER).is_admin and registry.authenticate(MASTER).user_id is None


@pytest.mark.parametrize(("raw", "code"), [(None, "missing_api_key"), ("", "missing_api_key"), ("llmh-nobody", "invalid_api_key")])
def test_no_or_an_unknown_token_is_a_401(registry: TokenRegistry, raw: str | None, code: str) -> None:
    error = refused(lambda: registry.authenticate(raw))
    assert (error.status, error.code) == (401, code)


def test_an_unknown_token_is_remembered_until_the_cache_is_invalidated(registry: TokenRegistry, engine: Engine) -> None:
    owner = registry.authenticate(new_token(engine)).user_id or 0
    assert refused(lambda: registry.authenticate("llmh-not-yet")).code == "invalid_api_key"
    with Session(engine) as session:  # the row appears behind the registry's back (every real write invalidates)
        session.add(GatewayToken(user_id=owner, name="late", token_hash=hash_token("llmh-not-yet"), token_last4="-yet"))
        session.commit()
    assert refused(lambda: registry.authenticate("llmh-not-yet")).code == "invalid_api_key"  # the miss is cached
    registry.invalidate()
    assert registry.authenticate("llmh-not-yet").token_name == "late"


def test_a_revoked_token_or_a_disabled_person_is_refused(registry: TokenRegistry, engine: Engine) -> None:
    revoked = new_token(engine)
    with Session(engine) as session:
        token = session.exec(select(GatewayToken).where(GatewayToken.token_hash == hash_token(revoked))).one()
        token.revoked_at = datetime.now(UTC)
        session.add(token)
        session.commit()
    assert refused(lambda: registry.authenticate(revoked)).code == "invalid_api_key"
    disabled = new_token(engine, status="disabled")
    assert refused(lambda: registry.authenticate(disabled)).code == "invalid_api_key"


def test_a_token_expires_at_its_moment(registry: TokenRegistry, engine: Engine, clock: FakeClock) -> None:
    raw = new_token(engine, expires_at=to_datetime(clock.t + 100))
    assert registry.authenticate(raw).token_name == "laptop"
    clock.t += 99.5
    assert registry.authenticate(raw).token_name == "laptop"
    clock.t += 0.5
    error = refused(lambda: registry.authenticate(raw))
    assert (error.status, error.code) == (401, "token_expired") and "laptop" in error.message


def test_a_token_may_use_only_its_models(registry: TokenRegistry, engine: Engine) -> None:
    principal = registry.authenticate(new_token(engine, allowed_models=["smart", "fast"]))
    registry.admit(principal, "smart")
    registry.admit(principal, "fast")
    error = refused(lambda: registry.admit(principal, "claude"))
    assert (error.status, error.code, error.error_type) == (403, "model_not_allowed", "permission_error") and "`claude`" in error.message
    anything = registry.authenticate(new_token(engine))
    registry.admit(anything, "claude")


def test_a_tokens_rpm_refuses_with_the_wait_until_its_minute_frees(registry: TokenRegistry, engine: Engine, clock: FakeClock) -> None:
    principal = registry.authenticate(new_token(engine, rpm=2))
    start = clock.t
    registry.admit(principal, "smart")
    clock.t += 10
    registry.admit(principal, "smart")
    clock.t += 10
    error = refused(lambda: registry.admit(principal, "smart"))
    assert (error.status, error.code, error.error_type) == (429, "rate_limit_exceeded", "rate_limit_error")
    assert error.retry_after == 41 and "2 requests per minute" in error.message  # the first call leaves the minute in 40 s
    clock.t = start + 59.5
    assert refused(lambda: registry.admit(principal, "smart")).retry_after == 1
    clock.t = start + 60
    registry.admit(principal, "smart")  # the first call has left the minute
    assert list(principal.recent) == [start + 10, start + 60]


def test_a_refused_call_does_not_count_against_the_rpm(registry: TokenRegistry, engine: Engine, clock: FakeClock) -> None:
    principal = registry.authenticate(new_token(engine, rpm=1, allowed_models=["smart"]))
    refused(lambda: registry.admit(principal, "other"))
    registry.admit(principal, "smart")
    assert refused(lambda: registry.admit(principal, "smart")).code == "rate_limit_exceeded"
    assert list(principal.recent) == [clock.t]


def test_the_master_key_has_no_limits(registry: TokenRegistry, clock: FakeClock) -> None:
    master = registry.authenticate(MASTER)
    for _ in range(100):
        registry.admit(master, "anything")
    assert list(master.recent) == []
