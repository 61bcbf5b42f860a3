"""Account services: hashing, sign-in (throttled), two-factor codes, invites, registration, admin guards
and sessions — against a real Hub on a temporary data dir with a hand-moved clock (see conftest)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from services.accounts import totp, users
from services.accounts.audit import Actor, AuditFilter, list_events
from services.accounts.sessions import load_session_user
from services.accounts.tokens import Principal
from services.accounts.views import SecondFactorNeeded, SignedIn
from services.clock import to_datetime
from services.errors import AccountError, SignInRefused
from services.hub import Hub
from services.tables import Invite
from tests.accounts.conftest import PASSWORD, actions, add_user, stored_user
from tests.factories import CLOCK_START, FakeClock

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
    assert stored_user(hub, admin.id).last_login_at == to_datetime(CLOCK_START)


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
    wrong = "000000" if totp.code_at(enrolment.secret, CLOCK_START) != "000000" else "111111"
    with pytest.raises(AccountError, match="does not match"):
        hub.accounts.enable_two_factor(actor, secret=enrolment.secret, code=wrong)
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
    _, codes = enrol(hub, admin)
    with pytest.raises(AccountError, match="not valid"):
        hub.accounts.disable_two_factor(admin, code="123")
    hub.accounts.disable_two_factor(admin, code=codes[0])
    stored = stored_user(hub, admin.id)
    assert not stored.totp_enabled and stored.totp_secret_enc is None and stored.recovery_codes is None
    assert isinstance(hub.accounts.check_password(email="root@example.com", password=PASSWORD, ip=None), SignedIn)
    assert actions(hub, "2fa") == ["2fa.enable", "2fa.disable"]


def test_totp_accepts_one_step_of_drift_only() -> None:
    secret = totp.new_secret()
    assert totp.matching_step(secret, totp.code_at(secret, CLOCK_START - 30), CLOCK_START) == int(CLOCK_START // 30) - 1
    assert totp.matching_step(secret, totp.code_at(secret, CLOCK_START + 30), CLOCK_START) == int(CLOCK_START // 30) + 1
    far = totp.code_at(secret, CLOCK_START + 120)
    if far not in {totp.code_at(secret, CLOCK_START + d) for d in (-30, 0, 30)}:
        assert totp.matching_step(secret, far, CLOCK_START) is None
    assert totp.matching_step(secret, "12a456", CLOCK_START) is None


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
    with pytest.raises(SignInRefused, match="disabled"):
        hub.accounts.check_password(email="r@example.com", password=PASSWORD, ip=None)


def test_invite_link_works_once_and_is_stored_hashed(hub: Hub, admin: Actor) -> None:
    invite = hub.accounts.create_invite(admin, email="Inv@Example.com", role="admin")
    with Session(hub.engine) as session:
        stored = session.exec(select(Invite)).one()
    assert stored.token_hash != invite.raw_token and invite.raw_token not in stored.token_hash
    assert stored.expires_at == to_datetime(CLOCK_START) + timedelta(days=7)
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
