"""Account services: hashing, sign-in throttle, two-factor codes, invites, registration, admin guards,
sessions and personal tokens — against a real Hub on a temporary data dir with a hand-moved clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from passlib.context import CryptContext
from sqlmodel import Session, select

from services.errors import AccountError, SignInRefused, UserError
from services.accounts import totp

from services.accounts import users
from services.accounts.service import (
    SecondFactorNeeded,
    SignedIn,
    SignInThrottle,
    throttled_message,
)
from services.accounts.audit import Actor, AuditFilter, list_events
from services.clock import to_datetime
from services.accounts.sessions import load_session_user
from services.hub import Hub
from services.tables import Invite, UsageRecord, User
from services.accounts.tokens import Principal
from tests.conftest import local_hub

PASSWORD = "a long enough password"
START = 1_800_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.t = START

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


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


# -- hashing and first run ------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2_never_stored_plain(hub: Hub, admin: Actor) -> None:
    stored = stored_user(hub, admin.id)
    assert stored.password_hash is not None and stored.password_hash.startswith("$argon2")
    assert PASSWORD not in stored.password_hash
    assert users.verify_password(PASSWORD, stored.password_hash)
    assert not users.verify_password(PASSWORD + "x", stored.password_hash)
    assert not users.verify_password(PASSWORD, None)


def test_setup_creates_the_admin_once(hub: Hub) -> None:
    assert hub.accounts.needs_setup()
    with pytest.raises(AccountError, match="do not match"):
        hub.accounts.create_first_admin(email="a@example.com", name="", password=PASSWORD, confirm="other password", ip=None)
    with pytest.raises(AccountError, match="at least 8"):
        hub.accounts.create_first_admin(email="a@example.com", name="", password="short", confirm="short", ip=None)
    signed_in = hub.accounts.create_first_admin(email="a@example.com", name="A", password=PASSWORD, confirm=PASSWORD, ip="1.2.3.4")
    assert stored_user(hub, signed_in.user_id).role == "admin"
    assert not hub.accounts.needs_setup()
    with pytest.raises(AccountError, match="already done") as refused:
        hub.accounts.create_first_admin(email="b@example.com", name="B", password=PASSWORD, confirm=PASSWORD, ip=None)
    assert refused.value.status == 409


def test_environment_admin_is_created_once(hub: Hub) -> None:
    assert hub.accounts.bootstrap_admin("env@example.com", PASSWORD)
    assert not hub.accounts.bootstrap_admin("ENV@example.com", "another password")
    assert users.verify_password(PASSWORD, stored_user(hub, 1).password_hash)
    assert actions(hub) == ["user.create"]


# -- sign-in and throttle -------------------------------------------------------------------------


def test_sign_in_success_and_failure_are_audited_with_address(hub: Hub, admin: Actor) -> None:
    step = hub.accounts.check_password(email=" ROOT@example.com ", password=PASSWORD, ip="10.9.9.9")
    assert step == SignedIn(admin.id or 0, 0)
    with pytest.raises(SignInRefused, match="Wrong e-mail or password"):
        hub.accounts.check_password(email="root@example.com", password="wrong password", ip="10.9.9.9")
    with pytest.raises(SignInRefused, match="Wrong e-mail or password"):
        hub.accounts.check_password(email="nobody@example.com", password=PASSWORD, ip="10.9.9.8")
    events, _ = list_events(hub.engine, AuditFilter(action_prefix="login"))
    assert [(e.action, e.target, e.ip, (e.detail or {}).get("reason")) for e in events] == [
        ("login.failure", "nobody@example.com", "10.9.9.8", "password"),
        ("login.failure", "root@example.com", "10.9.9.9", "password"),
        ("login.success", "root@example.com", "10.9.9.9", None),
    ]
    assert stored_user(hub, admin.id).last_login_at == to_datetime(START)


def test_throttle_locks_an_account_after_five_failures_then_lets_it_go(clock: FakeClock) -> None:
    throttle = SignInThrottle(clock, account_limit=5, address_limit=20, window=900, lockout=900)
    for _ in range(4):
        throttle.record_failure("ann@example.com", "1.1.1.1")
    assert throttle.wait_seconds("ann@example.com", "1.1.1.1") == 0
    throttle.record_failure("Ann@Example.com", "2.2.2.2")
    assert throttle.wait_seconds("ann@example.com", "3.3.3.3") == 900
    assert throttle.wait_seconds("bob@example.com", "1.1.1.1") == 0  # the address is under its own limit
    clock.t += 899
    assert throttle.wait_seconds("ann@example.com", None) == 1
    clock.t += 1
    assert throttle.wait_seconds("ann@example.com", None) == 0


def test_throttle_window_slides_and_success_clears_the_account(clock: FakeClock) -> None:
    throttle = SignInThrottle(clock, account_limit=3, window=60, lockout=300)
    throttle.record_failure("a@x.io", None)
    throttle.record_failure("a@x.io", None)
    clock.t += 61  # both fell out of the window
    throttle.record_failure("a@x.io", None)
    throttle.record_failure("a@x.io", None)
    assert throttle.wait_seconds("a@x.io", None) == 0
    throttle.record_success("a@x.io")
    throttle.record_failure("a@x.io", None)
    throttle.record_failure("a@x.io", None)
    assert throttle.wait_seconds("a@x.io", None) == 0


def test_throttle_locks_an_address_trying_many_accounts(clock: FakeClock) -> None:
    throttle = SignInThrottle(clock, account_limit=5, address_limit=3)
    for name in ("a", "b", "c"):
        throttle.record_failure(f"{name}@x.io", "6.6.6.6")
    assert throttle.wait_seconds("d@x.io", "6.6.6.6") == 900
    assert throttle.wait_seconds("d@x.io", "7.7.7.7") == 0


def test_throttle_forgets_stale_entries_when_full(clock: FakeClock) -> None:
    throttle = SignInThrottle(clock, window=10, max_tracked=4)
    for index in range(4):
        throttle.record_failure(f"{index}@x.io", None)
    clock.t += 11
    throttle.record_failure("new@x.io", None)
    assert set(throttle._failures) == {"account:new@x.io"}


def test_throttled_account_is_refused_even_with_the_right_password(hub: Hub, admin: Actor, clock: FakeClock) -> None:
    for _ in range(5):
        with pytest.raises(SignInRefused, match="Wrong"):
            hub.accounts.check_password(email="root@example.com", password="guess", ip="5.5.5.5")
    with pytest.raises(SignInRefused, match="Too many failed sign-ins, try again in 15 minutes") as refused:
        hub.accounts.check_password(email="root@example.com", password=PASSWORD, ip="8.8.8.8")
    assert refused.value.status == 429
    clock.t += 14 * 60 + 1
    with pytest.raises(SignInRefused, match="try again in 1 minute\\."):
        hub.accounts.check_password(email="root@example.com", password=PASSWORD, ip="8.8.8.8")
    clock.t += 60
    assert isinstance(hub.accounts.check_password(email="root@example.com", password=PASSWORD, ip="8.8.8.8"), SignedIn)
    assert "throttled" in [(e.detail or {}).get("reason") for e in list_events(hub.engine, AuditFilter(action_prefix="login"))[0]]


def test_throttled_message_rounds_up_to_whole_minutes() -> None:
    assert throttled_message(1) == "Too many failed sign-ins, try again in 1 minute."
    assert throttled_message(61) == "Too many failed sign-ins, try again in 2 minutes."


def test_pending_and_disabled_accounts_cannot_sign_in(hub: Hub, admin: Actor) -> None:
    ann = add_user(hub, admin)
    hub.accounts.set_enabled(admin, ann.id or 0, False)
    with pytest.raises(SignInRefused, match="disabled"):
        hub.accounts.check_password(email=ann.name, password=PASSWORD, ip=None)
    with pytest.raises(SignInRefused, match="Wrong"):  # a wrong password reveals nothing about the status
        hub.accounts.check_password(email=ann.name, password="wrong password", ip=None)
    hub.accounts.set_registration_mode(admin, "open")
    hub.accounts.register(email="new@example.com", name="New", password=PASSWORD, confirm=PASSWORD, ip=None)
    with pytest.raises(SignInRefused, match="waiting for an administrator"):
        hub.accounts.check_password(email="new@example.com", password=PASSWORD, ip=None)


# -- two-factor -----------------------------------------------------------------------------------


def enrol(hub: Hub, actor: Actor) -> tuple[str, list[str]]:
    enrolment = hub.accounts.start_two_factor(actor.id or 0)
    assert enrolment.qr_data_url.startswith("data:image/svg+xml;base64,")
    assert enrolment.uri.startswith("otpauth://totp/") and "LLM%20Hub" in enrolment.uri
    with pytest.raises(AccountError, match="does not match"):
        hub.accounts.enable_two_factor(actor, secret=enrolment.secret, code="000000" if totp.code_at(enrolment.secret, START) != "000000" else "111111")
    codes = hub.accounts.enable_two_factor(actor, secret=enrolment.secret, code=totp.code_at(enrolment.secret, hub.clock.now()))
    return enrolment.secret, codes


def test_two_factor_secret_is_encrypted_and_recovery_codes_hashed(hub: Hub, admin: Actor) -> None:
    secret, codes = enrol(hub, admin)
    stored = stored_user(hub, admin.id)
    assert stored.totp_enabled and stored.totp_secret_enc and secret not in stored.totp_secret_enc
    assert hub.box.decrypt(stored.totp_secret_enc) == secret
    assert len(codes) == 10 == len(set(codes)) == len(stored.recovery_codes or [])
    assert not set(codes) & set(stored.recovery_codes or [])
    assert hub.accounts.profile(admin.id or 0).recovery_codes_left == 10


def test_sign_in_with_a_code_each_code_once(hub: Hub, admin: Actor, clock: FakeClock) -> None:
    secret, _ = enrol(hub, admin)
    clock.t += 30
    challenge = hub.accounts.check_password(email="root@example.com", password=PASSWORD, ip=None)
    assert isinstance(challenge, SecondFactorNeeded)
    code = totp.code_at(secret, clock.t)
    assert hub.accounts.check_second_factor(challenge, code, ip=None) == SignedIn(admin.id or 0, 0)
    with pytest.raises(SignInRefused, match="not valid"):  # the same code again: a replay
        hub.accounts.check_second_factor(challenge, code, ip=None)
    clock.t += 30
    assert isinstance(hub.accounts.check_second_factor(challenge, totp.code_at(secret, clock.t - 30 + 30), ip=None), SignedIn)
    assert actions(hub, "login")[-1] == "login.success"


def test_second_step_expires(hub: Hub, admin: Actor, clock: FakeClock) -> None:
    secret, _ = enrol(hub, admin)
    challenge = hub.accounts.check_password(email="root@example.com", password=PASSWORD, ip=None)
    assert isinstance(challenge, SecondFactorNeeded)
    clock.t += 301
    with pytest.raises(SignInRefused, match="took too long"):
        hub.accounts.check_second_factor(challenge, totp.code_at(secret, clock.t), ip=None)


def test_recovery_codes_work_once(hub: Hub, admin: Actor) -> None:
    _, codes = enrol(hub, admin)
    challenge = hub.accounts.check_password(email="root@example.com", password=PASSWORD, ip=None)
    assert isinstance(challenge, SecondFactorNeeded)
    assert isinstance(hub.accounts.check_second_factor(challenge, codes[3].upper().replace("-", " "), ip=None), SignedIn)
    with pytest.raises(SignInRefused, match="not valid"):
        hub.accounts.check_second_factor(challenge, codes[3], ip=None)
    assert hub.accounts.profile(admin.id or 0).recovery_codes_left == 9
    events, _ = list_events(hub.engine, AuditFilter(action_prefix="login.success"))
    assert (events[0].detail or {}).get("second_factor") == "recovery code"


def test_disable_two_factor_needs_a_code(hub: Hub, admin: Actor, clock: FakeClock) -> None:
    secret, codes = enrol(hub, admin)
    with pytest.raises(AccountError, match="not valid"):
        hub.accounts.disable_two_factor(admin, code="123")
    hub.accounts.disable_two_factor(admin, code=codes[0])
    stored = stored_user(hub, admin.id)
    assert not stored.totp_enabled and stored.totp_secret_enc is None and stored.recovery_codes is None
    assert isinstance(hub.accounts.check_password(email="root@example.com", password=PASSWORD, ip=None), SignedIn)
    assert actions(hub, "2fa") == ["2fa.enable", "2fa.disable"]


def test_totp_accepts_one_step_of_drift_only() -> None:
    secret = totp.new_secret()
    assert totp.matching_step(secret, totp.code_at(secret, START - 30), START) == int(START // 30) - 1
    assert totp.matching_step(secret, totp.code_at(secret, START + 30), START) == int(START // 30) + 1
    far = totp.code_at(secret, START + 120)
    if far not in {totp.code_at(secret, START + d) for d in (-30, 0, 30)}:
        assert totp.matching_step(secret, far, START) is None
    assert totp.matching_step(secret, "12a456", START) is None


# -- registration and invites ---------------------------------------------------------------------


def test_registration_is_closed_by_default_and_open_means_pending(hub: Hub, admin: Actor) -> None:
    assert hub.accounts.registration_mode() == "closed"
    with pytest.raises(AccountError, match="closed"):
        hub.accounts.register(email="x@example.com", name="X", password=PASSWORD, confirm=PASSWORD, ip=None)
    with pytest.raises(AccountError):
        hub.accounts.set_registration_mode(admin, "anything goes")
    hub.accounts.set_registration_mode(admin, "open")
    hub.accounts.register(email="X@example.com", name="X", password=PASSWORD, confirm=PASSWORD, ip="4.4.4.4")
    hub.accounts.register(email="x@example.com", name="X again", password=PASSWORD, confirm=PASSWORD, ip="4.4.4.4")  # same answer
    pending = [u for u in hub.accounts.list_users() if u.email == "x@example.com"]
    assert [(u.status, u.name) for u in pending] == [("pending", "X")]
    hub.accounts.approve_user(admin, pending[0].id)
    assert isinstance(hub.accounts.check_password(email="x@example.com", password=PASSWORD, ip=None), SignedIn)
    with pytest.raises(AccountError, match="not pending"):
        hub.accounts.reject_user(admin, pending[0].id)
    assert actions(hub, "settings") == ["settings.registration"]


def test_rejected_registration_stays_disabled(hub: Hub, admin: Actor) -> None:
    hub.accounts.set_registration_mode(admin, "open")
    hub.accounts.register(email="r@example.com", name="R", password=PASSWORD, confirm=PASSWORD, ip=None)
    user = next(u for u in hub.accounts.list_users() if u.email == "r@example.com")
    assert hub.accounts.reject_user(admin, user.id).status == "disabled"


def test_invite_link_works_once_and_is_stored_hashed(hub: Hub, admin: Actor) -> None:
    invite = hub.accounts.create_invite(admin, email="Inv@Example.com", role="admin")
    with Session(hub.engine) as session:
        stored = session.exec(select(Invite)).one()
    assert stored.token_hash != invite.raw_token and invite.raw_token not in stored.token_hash
    assert stored.expires_at == to_datetime(START) + timedelta(days=7)
    view = hub.accounts.find_invite(invite.raw_token)
    assert view is not None and (view.email, view.role) == ("inv@example.com", "admin")
    assert [i.email for i in hub.accounts.list_open_invites()] == ["inv@example.com"]
    signed_in = hub.accounts.accept_invite(raw=invite.raw_token, name="Inv", password=PASSWORD, confirm=PASSWORD, ip="3.3.3.3")
    assert stored_user(hub, signed_in.user_id).role == "admin"
    assert hub.accounts.find_invite(invite.raw_token) is None
    with pytest.raises(AccountError, match="invalid, already used, or expired"):
        hub.accounts.accept_invite(raw=invite.raw_token, name="Again", password=PASSWORD, confirm=PASSWORD, ip=None)
    assert hub.accounts.list_open_invites() == []
    assert actions(hub, "invite") == ["invite.create", "invite.accept"]


def test_invite_expires(hub: Hub, admin: Actor, clock: FakeClock) -> None:
    invite = hub.accounts.create_invite(admin, email="late@example.com", days=2)
    clock.t += 2 * 86400 - 1
    assert hub.accounts.find_invite(invite.raw_token) is not None
    clock.t += 1
    assert hub.accounts.find_invite(invite.raw_token) is None
    with pytest.raises(AccountError, match="expired"):
        hub.accounts.accept_invite(raw=invite.raw_token, name="L", password=PASSWORD, confirm=PASSWORD, ip=None)


def test_invite_refusals_and_revoke(hub: Hub, admin: Actor) -> None:
    with pytest.raises(AccountError, match="already has an account"):
        hub.accounts.create_invite(admin, email="root@example.com")
    with pytest.raises(AccountError, match="1 to 90 days"):
        hub.accounts.create_invite(admin, email="a@example.com", days=0)
    with pytest.raises(AccountError, match="role"):
        hub.accounts.create_invite(admin, email="a@example.com", role="owner")
    invite = hub.accounts.create_invite(admin, email="a@example.com")
    hub.accounts.revoke_invite(admin, hub.accounts.list_open_invites()[0].id)
    assert hub.accounts.find_invite(invite.raw_token) is None


# -- user management ------------------------------------------------------------------------------


def test_last_active_admin_cannot_be_demoted_or_disabled(hub: Hub, admin: Actor) -> None:
    with pytest.raises(AccountError, match="last active admin") as refused:
        hub.accounts.set_role(admin, admin.id or 0, "user")
    assert refused.value.status == 409
    with pytest.raises(AccountError, match="last active admin"):
        hub.accounts.set_enabled(admin, admin.id or 0, False)
    assert stored_user(hub, admin.id).role == "admin"  # nothing half-written
    second = add_user(hub, admin, "second@example.com", role="admin")
    hub.accounts.set_role(admin, admin.id or 0, "user")
    with pytest.raises(AccountError, match="last active admin"):
        hub.accounts.set_enabled(second, second.id or 0, False)
    events, _ = list_events(hub.engine, AuditFilter(action_prefix="user.role"))
    assert events[0].detail == {"from": "admin", "to": "user"}


def test_epoch_bump_ends_console_sessions(hub: Hub, admin: Actor) -> None:
    ann = add_user(hub, admin)
    signed_in = hub.accounts.check_password(email=ann.name, password=PASSWORD, ip=None)
    assert isinstance(signed_in, SignedIn)
    assert load_session_user(hub.engine, signed_in.user_id, signed_in.epoch) is not None
    hub.accounts.sign_out_everywhere(admin, ann.id or 0)
    assert load_session_user(hub.engine, signed_in.user_id, signed_in.epoch) is None
    again = hub.accounts.check_password(email=ann.name, password=PASSWORD, ip=None)
    assert isinstance(again, SignedIn) and again.epoch == signed_in.epoch + 1
    assert load_session_user(hub.engine, again.user_id, again.epoch) is not None


def test_disable_then_enable_does_not_revive_old_sessions(hub: Hub, admin: Actor) -> None:
    ann = add_user(hub, admin)
    hub.accounts.set_enabled(admin, ann.id or 0, False)
    hub.accounts.set_enabled(admin, ann.id or 0, True)
    assert load_session_user(hub.engine, ann.id, 0) is None
    with pytest.raises(AccountError, match="is active, not disabled"):
        hub.accounts.set_enabled(admin, ann.id or 0, True)


def test_reset_password_generated_or_typed(hub: Hub, admin: Actor) -> None:
    ann = add_user(hub, admin)
    generated = hub.accounts.reset_password(admin, ann.id or 0)
    assert len(generated) >= 16
    assert isinstance(hub.accounts.check_password(email=ann.name, password=generated, ip=None), SignedIn)
    assert hub.accounts.reset_password(admin, ann.id or 0, "typed by the admin") == "typed by the admin"
    with pytest.raises(AccountError, match="at least 8"):
        hub.accounts.reset_password(admin, ann.id or 0, "short")
    assert stored_user(hub, ann.id).session_epoch == 2
    events, _ = list_events(hub.engine, AuditFilter(action_prefix="password.reset"))
    assert [e.detail for e in events] == [{"generated": False}, {"generated": True}]


def test_change_password_checks_the_current_one(hub: Hub, admin: Actor) -> None:
    with pytest.raises(AccountError, match="current password is wrong"):
        hub.accounts.change_password(admin, current="not it", new="brand new password", confirm="brand new password")
    with pytest.raises(AccountError, match="do not match"):
        hub.accounts.change_password(admin, current=PASSWORD, new="brand new password", confirm="brand new passw0rd")
    epoch = hub.accounts.change_password(admin, current=PASSWORD, new="brand new password", confirm="brand new password")
    assert epoch == 1 and load_session_user(hub.engine, admin.id, 0) is None
    assert isinstance(hub.accounts.check_password(email=admin.name, password="brand new password", ip=None), SignedIn)


def test_admin_turns_off_someones_two_factor(hub: Hub, admin: Actor) -> None:
    ann = add_user(hub, admin)
    enrol(hub, ann)
    assert hub.accounts.turn_off_two_factor_for(admin, ann.id or 0).totp_enabled is False
    with pytest.raises(AccountError, match="no two-factor"):
        hub.accounts.turn_off_two_factor_for(admin, ann.id or 0)


def test_role_and_status_changes_refresh_the_token_cache(hub: Hub, admin: Actor) -> None:
    ann = add_user(hub, admin)
    raw = hub.accounts.create_own_token(ann, name="ci").raw
    assert hub.tokens.authenticate(raw).role == "user"
    hub.accounts.set_role(admin, ann.id or 0, "admin")
    assert hub.tokens.authenticate(raw).role == "admin"
    hub.accounts.set_enabled(admin, ann.id or 0, False)
    with pytest.raises(Exception, match="Incorrect API key"):
        hub.tokens.authenticate(raw)


# -- own tokens -----------------------------------------------------------------------------------


def test_own_tokens_masked_with_month_spend_and_revoke(hub: Hub, admin: Actor, clock: FakeClock) -> None:
    ann = add_user(hub, admin)
    created = hub.accounts.create_own_token(
        ann, name="laptop", monthly_budget_usd=12.5, rpm=30, allowed_models=["smart"], expires_at=to_datetime(START + 86400)
    )
    other = hub.accounts.create_own_token(ann, name="other")
    assert created.raw.startswith("llmh-") and created.token.token_masked == "…" + created.raw[-4:]
    now = to_datetime(clock.t)
    assert now is not None
    with Session(hub.engine) as session:
        for cost, token_id, when in [(1_500_000, created.token.id, now), (250_000, created.token.id, now), (9_000_000, created.token.id, now - timedelta(days=40))]:
            session.add(UsageRecord(request_id="r", requested_model="smart", token_id=token_id, cost_micros=cost, created_at=when))
        session.commit()
    listed = hub.accounts.list_own_tokens(ann.id or 0)
    assert [t.name for t in listed] == ["other", "laptop"]
    laptop = listed[1]
    assert (str(laptop.month_spend_usd), str(laptop.monthly_budget_usd), laptop.rpm, laptop.allowed_models, laptop.status) == (
        "1.75", "12.5", 30, ["smart"], "active"
    )
    assert created.raw not in laptop.model_dump_json()
    with pytest.raises(AccountError, match="No such token"):
        hub.accounts.revoke_own_token(admin, created.token.id)  # not the admin's token
    assert hub.tokens.authenticate(created.raw).user_id == ann.id
    hub.accounts.revoke_own_token(ann, created.token.id)
    with pytest.raises(Exception, match="Incorrect API key"):
        hub.tokens.authenticate(created.raw)
    assert [t.status for t in hub.accounts.list_own_tokens(ann.id or 0)] == ["active", "revoked"]
    clock.t += 2 * 86400
    hub.accounts.revoke_own_token(ann, other.token.id)
    assert actions(hub, "token") == ["token.create", "token.create", "token.revoke", "token.revoke"]


def test_token_expiry_must_be_in_the_future(hub: Hub, admin: Actor) -> None:
    with pytest.raises(AccountError, match="future"):
        hub.accounts.create_own_token(admin, name="old", expires_at=to_datetime(START - 1))
    with pytest.raises(UserError, match="name"):
        hub.accounts.create_own_token(admin, name="", rpm=None)


def test_audit_action_kinds(hub: Hub, admin: Actor) -> None:
    hub.accounts.check_password(email=admin.name, password=PASSWORD, ip=None)
    assert hub.accounts.audit_action_kinds() == ["login", "user"]


def test_api_actor_names_the_master_key_or_the_tokens_owner(hub: Hub, admin: Actor) -> None:
    assert hub.accounts.api_actor(Principal(user_id=None, role="admin"), "9.9.9.9") == Actor(None, "master key", "9.9.9.9")
    assert hub.accounts.api_actor(Principal(user_id=admin.id, role="admin"), None) == Actor(admin.id, "root@example.com", None)


def test_bad_environment_admin_stops_the_start_with_a_clear_message(hub: Hub) -> None:
    from app.server import create_env_admin
    from app.settings import SettingsError

    with pytest.raises(SettingsError, match="LLMHUB_ADMIN_EMAIL / LLMHUB_ADMIN_PASSWORD: the password needs at least 8"):
        create_env_admin(hub, "env@example.com", "short")
    assert hub.accounts.needs_setup()
