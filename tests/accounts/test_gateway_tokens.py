"""Gateway tokens through ``GatewayTokens``: the one path of the console's own tokens and the
management API's, each change audited alike and seen by the token registry at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from services.accounts.audit import Actor, AuditFilter, list_events
from services.accounts.gateway_tokens import TokenCreate, TokenCreated
from services.clock import to_datetime
from services.errors import AccountError, UserError
from services.hub import Hub
from services.tables import UsageRecord
from tests.accounts.conftest import actions, add_user
from tests.factories import CLOCK_START, TEST_ACTOR, FakeClock


def own_token(hub: Hub, actor: Actor, **fields: object) -> TokenCreated:
    """What the console's token panel does: a token issued for the acting user."""
    return hub.gateway_tokens.issue(actor, {"user_id": actor.id, **fields})


def token_events(hub: Hub) -> list[tuple[str, str | None, str | None, dict | None]]:
    events, _ = list_events(hub.engine, AuditFilter(action_prefix="token"), limit=1000)
    return [(e.action, e.actor, e.target, e.detail) for e in reversed(events)]


def test_own_tokens_masked_with_month_spend_and_revoke(hub: Hub, admin: Actor, clock: FakeClock) -> None:
    ann = add_user(hub, admin)
    expires_at = to_datetime(CLOCK_START + 86400)
    created = own_token(hub, ann, name="laptop", monthly_budget_usd=12.5, rpm=30, allowed_models=["smart"], expires_at=expires_at)
    other = own_token(hub, ann, name="other")
    assert created.token.startswith("llmh-") and created.token_masked == "…" + created.token[-4:]
    now = to_datetime(clock.t)
    assert now is not None
    with Session(hub.engine) as session:
        for cost, when in [(1_500_000, now), (250_000, now), (9_000_000, now - timedelta(days=40))]:
            session.add(UsageRecord(request_id="r", requested_model="smart", token_id=created.id, cost_micros=cost, created_at=when))
        session.commit()
    listed = hub.gateway_tokens.list_own(ann.id or 0)
    assert [t.name for t in listed] == ["other", "laptop"]
    laptop = listed[1]
    assert (str(laptop.month_spend_usd), str(laptop.monthly_budget_usd), laptop.rpm, laptop.allowed_models, laptop.status) == (
        "1.75", "12.5", 30, ["smart"], "active"
    )
    assert created.token not in laptop.model_dump_json()
    with pytest.raises(UserError, match="no token with id") as refused:
        hub.gateway_tokens.revoke(admin, created.id, owner_id=admin.id)  # not the admin's own token
    assert refused.value.status == 404
    assert hub.tokens.authenticate(created.token).user_id == ann.id
    hub.gateway_tokens.revoke(ann, created.id, owner_id=ann.id)
    with pytest.raises(Exception, match="Incorrect API key"):
        hub.tokens.authenticate(created.token)
    assert [t.status for t in hub.gateway_tokens.list_own(ann.id or 0)] == ["active", "revoked"]
    clock.t += 2 * 86400
    hub.gateway_tokens.revoke(ann, other.id, owner_id=ann.id)
    assert actions(hub, "token") == ["token.create", "token.create", "token.revoke", "token.revoke"]


def test_token_expiry_must_be_in_the_future(hub: Hub, admin: Actor) -> None:
    with pytest.raises(AccountError, match="future"):
        own_token(hub, admin, name="old", expires_at=to_datetime(CLOCK_START - 1))
    with pytest.raises(UserError, match="name"):
        own_token(hub, admin, name="", rpm=None)


def test_admin_issued_tokens_change_and_revoke_through_the_same_path(hub: Hub, admin: Actor) -> None:
    """The management API's calls: a token for someone else (by e-mail), a change, a revoke, each
    audited like the console's and each taking effect in the registry at once."""
    ann = add_user(hub, admin)
    created = hub.gateway_tokens.issue(TEST_ACTOR, TokenCreate(name="ci", user_email="ANN@example.com", rpm=5))
    assert (created.user_id, created.user_email, created.rpm) == (ann.id, "ann@example.com", 5)
    assert hub.tokens.authenticate(created.token).rpm == 5
    changed = hub.gateway_tokens.update(TEST_ACTOR, created.id, {"rpm": None, "allowed_models": ["smart"]})
    assert (changed.rpm, changed.allowed_models) == (None, ["smart"])
    assert hub.tokens.authenticate(created.token).may_use("smart") and not hub.tokens.authenticate(created.token).may_use("other")
    assert [t.id for t in hub.gateway_tokens.list_tokens(user_email="ann@example.com")] == [created.id]
    assert hub.gateway_tokens.list_tokens(user_email="nobody@example.com") == []
    hub.gateway_tokens.revoke(TEST_ACTOR, created.id)
    assert hub.gateway_tokens.revoke(TEST_ACTOR, created.id).revoked_at is not None  # twice is harmless
    with pytest.raises(Exception, match="Incorrect API key"):
        hub.tokens.authenticate(created.token)
    target = f"ci {created.token_masked}"
    assert token_events(hub) == [
        ("token.create", "test", target, {"token_id": created.id, "owner": "ann@example.com"}),
        ("token.update", "test", target, {"token_id": created.id, "fields": ["allowed_models", "rpm"]}),
        ("token.revoke", "test", target, {"token_id": created.id, "owner": "ann@example.com"}),
        ("token.revoke", "test", target, {"token_id": created.id, "owner": "ann@example.com"}),
    ]


def test_token_owner_and_id_must_exist(hub: Hub, admin: Actor) -> None:
    with pytest.raises(UserError, match="user_id or user_email"):
        hub.gateway_tokens.issue(TEST_ACTOR, {"name": "t"})
    with pytest.raises(UserError, match="no user with the e-mail") as missing:
        hub.gateway_tokens.issue(TEST_ACTOR, {"name": "t", "user_email": "ghost@example.com"})
    assert missing.value.status == 404
    with pytest.raises(UserError, match="no token with id 999") as unknown:
        hub.gateway_tokens.update(TEST_ACTOR, 999, {"rpm": 3})
    assert (unknown.value.status, unknown.value.field) == (404, "token_id")
    assert token_events(hub) == []


def test_role_and_status_changes_refresh_the_token_cache(hub: Hub, admin: Actor) -> None:
    ann = add_user(hub, admin)
    raw = own_token(hub, ann, name="ci").token
    assert hub.tokens.authenticate(raw).role == "user"
    hub.accounts.set_role(admin, ann.id or 0, "admin")
    assert hub.tokens.authenticate(raw).role == "admin"
    hub.accounts.set_enabled(admin, ann.id or 0, False)
    with pytest.raises(Exception, match="Incorrect API key"):
        hub.tokens.authenticate(raw)
