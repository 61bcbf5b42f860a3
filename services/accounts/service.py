"""Console accounts: first-run setup, sign-in (throttled, with optional two-factor codes),
registration and invites, the admin's user management, and each user's own password and two-factor
sign-in. Gateway tokens have their own facade, ``services.accounts.gateway_tokens.GatewayTokens``.

Every change is written to the audit log from here, so the console and the management API record
the same events. Nothing here knows about NiceGUI: callers pass the acting ``Actor`` (who, and from
which address) in. Audit writes happen after the change commits (SQLite has one writer at a time).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from services.accounts import totp
from services.accounts.audit import Actor, record_event
from services.accounts.sessions import any_user_exists
from services.accounts.throttle import SignInThrottle, throttled_message
from services.accounts.tokens import Principal, hash_token
from services.accounts.users import (
    MIN_PASSWORD_LENGTH,
    ROLES,
    UserPublic,
    create_user,
    get_user_by_email,
    hash_password,
    list_users,
    normalize_email,
    spend_password_check_time,
    verify_password,
)
from services.accounts.views import (
    CreatedInvite,
    InviteView,
    ProfileView,
    SecondFactorNeeded,
    SignedIn,
    TwoFactorEnrolment,
)
from services.clock import Clock
from services.crypto import SecretBox
from services.db import session_scope
from services.errors import AccountError, SignInRefused
from services.tables import AppSetting, AuditEvent, Invite, User

MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only stops absurd inputs
REGISTRATION_SETTING = "registration_mode"
REGISTRATION_MODES = {
    "closed": "Closed: admins create accounts or send invite links",
    "open": "Open with approval: anyone can register, an admin approves",
}
INVITE_DAYS = 7
MAX_INVITE_DAYS = 90
SECOND_FACTOR_SECONDS = 300
ENVIRONMENT_ACTOR = Actor(None, "environment")

WRONG_PASSWORD = "Wrong e-mail or password."
PENDING = "Your account is waiting for an administrator's approval."
DISABLED = "This account is disabled. Ask an administrator to enable it."
BAD_CODE = "That code is not valid (each code works once). Enter the current code from your app, or a recovery code."
SLOW_SECOND_STEP = "The sign-in took too long. Enter your password again."
INVITE_INVALID = "This invite link is invalid, already used, or expired. Ask an administrator for a new one."
LAST_ADMIN = "This is the last active admin: make another user an admin first."


def check_new_password(password: str, confirm: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"The password may have at most {MAX_PASSWORD_LENGTH} characters.", field="password")
    if password != confirm:
        raise AccountError("The two passwords do not match.", field="confirm")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"The role must be one of {', '.join(ROLES)}.", field="role")


@dataclass(frozen=True, slots=True)
class _Change:
    """What one user change did, for the audit log."""

    action: str
    detail: dict[str, Any] = field(default_factory=dict)


# -- the service ---------------------------------------------------------------------------------


class Accounts:
    def __init__(
        self,
        engine: Engine,
        box: SecretBox,
        clock: Clock,
        *,
        on_tokens_changed: Callable[[], None] = lambda: None,
        throttle: SignInThrottle | None = None,
    ) -> None:
        """``on_tokens_changed`` runs after any change that affects gateway tokens (the token
        registry caches each token's owner, role and status)."""
        self.engine = engine
        self.box = box
        self.clock = clock
        self.throttle = throttle or SignInThrottle(clock)
        self._on_tokens_changed = on_tokens_changed
        self._last_code_step: dict[int, int] = {}  # per user: a TOTP code is accepted once

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def _audit(self, actor: Actor, action: str, target: str | None = None, **detail: Any) -> None:
        record_event(self.engine, actor, action, target, detail or None)

    @staticmethod
    def _user(session: Session, user_id: int | None) -> User:
        user = session.get(User, user_id) if user_id is not None else None
        if user is None:
            raise AccountError("No such user.", field="user_id", status=404)
        return user

    # -- first run -------------------------------------------------------------------------------

    def needs_setup(self) -> bool:
        return not any_user_exists(self.engine)

    def create_first_admin(self, *, email: str, name: str, password: str, confirm: str, ip: str | None) -> SignedIn:
        """The first account, an admin, signed in at once. Refused as soon as any user exists."""
        check_new_password(password, confirm)
        with session_scope(self.engine) as session:
            if session.exec(select(User.id).limit(1)).first() is not None:
                raise AccountError("Setup is already done. Sign in instead.", status=409)
            user = create_user(session=session, email=email, password=password, role="admin", name=name)
            user.last_login_at = self._now()
            signed_in = SignedIn(user.id or 0, user.session_epoch)
        self._audit(Actor(signed_in.user_id, user.email, ip), "user.create", user.email, role="admin", via="setup")
        return signed_in

    def bootstrap_admin(self, email: str, password: str) -> bool:
        """Create the admin named by the environment if that e-mail has no account yet."""
        with session_scope(self.engine) as session:
            if get_user_by_email(session, email) is not None:
                return False
            user = create_user(session=session, email=email, password=password, role="admin")
        self._audit(ENVIRONMENT_ACTOR, "user.create", user.email, role="admin", via="environment")
        return True

    # -- sign-in ---------------------------------------------------------------------------------

    def _refuse_if_throttled(self, email: str, ip: str | None) -> None:
        wait = self.throttle.wait_seconds(email, ip)
        if wait > 0:
            self._audit(Actor(None, email, ip), "login.failure", email, reason="throttled")
            raise SignInRefused(throttled_message(wait), status=429)

    def _fail(self, email: str, ip: str | None, reason: str, message: str, user_id: int | None = None) -> NoReturn:
        self.throttle.record_failure(email, ip)
        self._audit(Actor(user_id, email, ip), "login.failure", email, reason=reason)
        raise SignInRefused(message, status=401)

    def _refuse_inactive(self, user: User, ip: str | None) -> None:
        if user.status == "active":
            return
        self._audit(Actor(user.id, user.email, ip), "login.failure", user.email, reason=user.status)
        raise SignInRefused(PENDING if user.status == "pending" else DISABLED, status=403)

    def check_password(self, *, email: str, password: str, ip: str | None) -> SignedIn | SecondFactorNeeded:
        """First sign-in step. Pending or disabled accounts are named only after a right password."""
        attempted = email.strip().lower()[:254]
        self._refuse_if_throttled(attempted, ip)
        with Session(self.engine) as session:
            user = get_user_by_email(session, attempted) if attempted else None
        if user is None:
            spend_password_check_time()
            self._fail(attempted, ip, "password", WRONG_PASSWORD)
        if len(password) > MAX_PASSWORD_LENGTH or not verify_password(password, user.password_hash):
            self._fail(attempted, ip, "password", WRONG_PASSWORD, user.id)
        self._refuse_inactive(user, ip)
        if user.totp_enabled:
            return SecondFactorNeeded(user.id or 0, user.email, self.clock.now() + SECOND_FACTOR_SECONDS)
        return self._signed_in(user.id or 0, ip)

    def check_second_factor(self, challenge: SecondFactorNeeded, code: str, *, ip: str | None) -> SignedIn:
        """Second step: a current TOTP code or one unused recovery code."""
        self._refuse_if_throttled(challenge.email, ip)
        if self.clock.now() > challenge.expires_at:
            raise SignInRefused(SLOW_SECOND_STEP, status=401)
        with session_scope(self.engine) as session:
            user = self._user(session, challenge.user_id)
            self._refuse_inactive(user, ip)
            used = self._spend_second_factor(user, code)
        if used is None:
            self._fail(challenge.email, ip, "code", BAD_CODE, challenge.user_id)
        return self._signed_in(challenge.user_id, ip, second_factor=used)

    def _spend_second_factor(self, user: User, code: str) -> str | None:
        """Which factor ``code`` is ("totp" or "recovery code"), using it up; None if neither."""
        if user.totp_secret_enc:
            step = totp.matching_step(self.box.decrypt(user.totp_secret_enc), code, self.clock.now())
            if step is not None and step > self._last_code_step.get(user.id or 0, -1):
                self._last_code_step[user.id or 0] = step
                return "totp"
        remaining = totp.spend_recovery_code(user.recovery_codes or [], code)
        if remaining is None:
            return None
        user.recovery_codes = remaining
        return "recovery code"

    def _signed_in(self, user_id: int, ip: str | None, **detail: Any) -> SignedIn:
        with session_scope(self.engine) as session:
            user = self._user(session, user_id)
            user.last_login_at = self._now()
            email, epoch = user.email, user.session_epoch
        self.throttle.record_success(email)
        self._audit(Actor(user_id, email, ip), "login.success", email, **detail)
        return SignedIn(user_id, epoch)

    # -- registration and invites ----------------------------------------------------------------

    def registration_mode(self) -> str:
        with Session(self.engine) as session:
            row = session.get(AppSetting, REGISTRATION_SETTING)
        return row.value if row is not None and row.value in REGISTRATION_MODES else "closed"

    def set_registration_mode(self, actor: Actor, mode: str) -> None:
        if mode not in REGISTRATION_MODES:
            raise AccountError(f"The registration mode must be one of {', '.join(REGISTRATION_MODES)}.", field="mode")
        with session_scope(self.engine) as session:
            row = session.get(AppSetting, REGISTRATION_SETTING) or AppSetting(key=REGISTRATION_SETTING)
            row.value, row.updated_at = mode, self._now()
            session.add(row)
        self._audit(actor, "settings.registration", REGISTRATION_SETTING, mode=mode)

    def register(self, *, email: str, name: str, password: str, confirm: str, ip: str | None) -> None:
        """A self-registered account waits as pending. A taken e-mail gets the same answer, so the
        form does not reveal who has an account (the audit log notes it)."""
        if self.registration_mode() != "open":
            raise AccountError("Registration is closed. Ask an administrator for an invite.", status=403)
        check_new_password(password, confirm)
        email = normalize_email(email)
        with session_scope(self.engine) as session:
            taken = get_user_by_email(session, email) is not None
            if not taken:
                create_user(session=session, email=email, password=password, name=name).status = "pending"
        self._audit(Actor(None, email, ip), "user.register", email, **({"already_registered": True} if taken else {}))

    def create_invite(self, actor: Actor, *, email: str, role: str = "user", days: int = INVITE_DAYS) -> CreatedInvite:
        email = normalize_email(email)
        _check_role(role)
        if not 1 <= days <= MAX_INVITE_DAYS:
            raise AccountError(f"An invite lasts 1 to {MAX_INVITE_DAYS} days.", field="days")
        raw = secrets.token_urlsafe(32)
        expires_at = self._now() + timedelta(days=days)
        with session_scope(self.engine) as session:
            if get_user_by_email(session, email) is not None:
                raise AccountError(f"{email} already has an account.", field="email", status=409)
            session.add(Invite(token_hash=hash_token(raw), email=email, role=role, created_by=actor.id, expires_at=expires_at))
        self._audit(actor, "invite.create", email, role=role, days=days)
        return CreatedInvite(raw, email, role, expires_at)

    def _open_invite(self, session: Session, raw: str) -> Invite | None:
        invite = session.exec(select(Invite).where(Invite.token_hash == hash_token(raw))).first()
        if invite is None or invite.used_at is not None or invite.email is None or invite.expires_at <= self._now():
            return None
        return invite

    def find_invite(self, raw: str) -> InviteView | None:
        """The invite behind a link, if it can still be used."""
        with Session(self.engine) as session:
            invite = self._open_invite(session, raw)
            return None if invite is None else InviteView.of(invite)

    def accept_invite(self, *, raw: str, name: str, password: str, confirm: str, ip: str | None) -> SignedIn:
        check_new_password(password, confirm)
        with session_scope(self.engine) as session:
            invite = self._open_invite(session, raw)
            if invite is None:
                raise AccountError(INVITE_INVALID, status=404)
            user = create_user(session=session, email=invite.email or "", password=password, role=invite.role, name=name)
            invite.used_at = user.last_login_at = self._now()
            session.add(invite)
            signed_in, email, role = SignedIn(user.id or 0, user.session_epoch), user.email, user.role
        self._audit(Actor(signed_in.user_id, email, ip), "invite.accept", email, role=role)
        return signed_in

    def list_open_invites(self) -> list[InviteView]:
        with Session(self.engine) as session:
            query = select(Invite).where(col(Invite.used_at).is_(None), Invite.expires_at > self._now()).order_by(col(Invite.id).desc())
            return [InviteView.of(invite) for invite in session.exec(query)]

    def revoke_invite(self, actor: Actor, invite_id: int) -> None:
        with session_scope(self.engine) as session:
            invite = session.get(Invite, invite_id)
            if invite is None:
                raise AccountError("No such invite.", status=404)
            email = invite.email
            session.delete(invite)
        self._audit(actor, "invite.revoke", email)

    # -- user management (admins) ----------------------------------------------------------------

    def list_users(self) -> list[UserPublic]:
        with Session(self.engine) as session:
            return [UserPublic.of(user) for user in list_users(session)]

    def create_user(self, actor: Actor, *, email: str, name: str, role: str, password: str) -> UserPublic:
        with session_scope(self.engine) as session:
            public = UserPublic.of(create_user(session=session, email=email, password=password, role=role, name=name))
        self._audit(actor, "user.create", public.email, role=public.role)
        return public

    def _change_user(self, actor: Actor, user_id: int, change: Callable[[User], _Change]) -> UserPublic:
        """Apply one change in one transaction; refused if it would leave no active admin."""
        with session_scope(self.engine) as session:
            user = self._user(session, user_id)
            done = change(user)
            session.add(user)
            session.flush()
            admins = session.exec(select(func.count()).select_from(User).where(User.role == "admin", User.status == "active")).one()
            if admins == 0:
                raise AccountError(LAST_ADMIN, status=409)
            public = UserPublic.of(user)
        self._on_tokens_changed()
        self._audit(actor, done.action, public.email, **done.detail)
        return public

    def approve_user(self, actor: Actor, user_id: int) -> UserPublic:
        return self._change_user(actor, user_id, lambda user: _set_status(user, "active", "user.approve", "pending"))

    def reject_user(self, actor: Actor, user_id: int) -> UserPublic:
        """A rejected registration stays, disabled: the e-mail cannot simply register again."""
        return self._change_user(actor, user_id, lambda user: _set_status(user, "disabled", "user.reject", "pending"))

    def set_enabled(self, actor: Actor, user_id: int, enabled: bool) -> UserPublic:
        """Disabling keeps the account and its history; its sessions and tokens stop working."""
        if enabled:
            return self._change_user(actor, user_id, lambda user: _set_status(user, "active", "user.enable", "disabled"))
        return self._change_user(actor, user_id, lambda user: _set_status(user, "disabled", "user.disable", "active"))

    def set_role(self, actor: Actor, user_id: int, role: str) -> UserPublic:
        _check_role(role)

        def change(user: User) -> _Change:
            before, user.role = user.role, role
            return _Change("user.role", {"from": before, "to": role})

        return self._change_user(actor, user_id, change)

    def reset_password(self, actor: Actor, user_id: int, password: str | None = None) -> str:
        """Set a password (typed by the admin, or generated when None) and end the user's sessions.
        Returns it, to be shown once."""
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        check_new_password(password, password)

        def change(user: User) -> _Change:
            user.password_hash = hash_password(password)
            user.session_epoch += 1
            return _Change("password.reset", {"generated": generated})

        self._change_user(actor, user_id, change)
        return password

    def sign_out_everywhere(self, actor: Actor, user_id: int) -> UserPublic:
        return self._change_user(actor, user_id, _bump_epoch)

    def turn_off_two_factor_for(self, actor: Actor, user_id: int) -> UserPublic:
        """For a user who lost both their phone and their recovery codes."""
        return self._change_user(actor, user_id, lambda user: _clear_two_factor(user, "2fa.reset"))

    # -- own profile -----------------------------------------------------------------------------

    def profile(self, user_id: int) -> ProfileView:
        with Session(self.engine) as session:
            user = self._user(session, user_id)
        return ProfileView(user.email, user.name, user.role, user.totp_enabled, len(user.recovery_codes or []))

    def change_password(self, actor: Actor, *, current: str, new: str, confirm: str) -> int:
        """Returns the new session epoch: other sessions end, the caller signs in again with it."""
        check_new_password(new, confirm)
        self._refuse_if_throttled(actor.name, actor.ip)
        with session_scope(self.engine) as session:
            user = self._user(session, actor.id)
            right = verify_password(current, user.password_hash)
            if right:
                user.password_hash = hash_password(new)
                user.session_epoch += 1
                epoch = user.session_epoch
        if not right:
            self.throttle.record_failure(actor.name, actor.ip)
            raise AccountError("The current password is wrong.", field="current")
        self._audit(actor, "password.change", actor.name)
        return epoch

    def start_two_factor(self, user_id: int) -> TwoFactorEnrolment:
        """A fresh secret to scan; nothing is stored until ``enable_two_factor`` confirms a code."""
        profile = self.profile(user_id)
        if profile.two_factor:
            raise AccountError("Two-factor sign-in is already on.", status=409)
        secret = totp.new_secret()
        uri = totp.provisioning_uri(secret, profile.email)
        return TwoFactorEnrolment(secret, uri, totp.qr_data_url(uri))

    def enable_two_factor(self, actor: Actor, *, secret: str, code: str) -> list[str]:
        """Turn 2FA on once the app shows a matching code; returns the recovery codes (shown once)."""
        step = totp.matching_step(secret, code, self.clock.now())
        if step is None:
            raise AccountError("That code does not match. Check the clock on your phone and enter the current code.", field="code")
        codes = totp.new_recovery_codes()
        with session_scope(self.engine) as session:
            user = self._user(session, actor.id)
            if user.totp_enabled:
                raise AccountError("Two-factor sign-in is already on.", status=409)
            user.totp_secret_enc = self.box.encrypt(secret)
            user.totp_enabled = True
            user.recovery_codes = [totp.hash_recovery_code(code) for code in codes]
        self._last_code_step[actor.id or 0] = step
        self._audit(actor, "2fa.enable", actor.name)
        return codes

    def disable_two_factor(self, actor: Actor, *, code: str) -> None:
        """Needs a current code or a recovery code, so a borrowed session cannot switch 2FA off."""
        self._refuse_if_throttled(actor.name, actor.ip)
        with session_scope(self.engine) as session:
            user = self._user(session, actor.id)
            if not user.totp_enabled:
                raise AccountError("Two-factor sign-in is already off.", status=409)
            used = self._spend_second_factor(user, code)
            if used is not None:
                _clear_two_factor(user, "2fa.disable")
        if used is None:
            self.throttle.record_failure(actor.name, actor.ip)
            raise AccountError(BAD_CODE, field="code")
        self._audit(actor, "2fa.disable", actor.name, with_code=used)

    # -- audit helpers ---------------------------------------------------------------------------

    def api_actor(self, principal: Principal, ip: str | None) -> Actor:
        """The audit actor behind a management-API call (the master key or a user's token)."""
        if principal.user_id is None:
            return Actor(None, "master key", ip)
        with Session(self.engine) as session:
            user = session.get(User, principal.user_id)
        return Actor(principal.user_id, user.email if user else f"user {principal.user_id}", ip)

    def audit_action_kinds(self) -> list[str]:
        """The action families in the log ("login", "user", "token", ...), for a filter list."""
        with Session(self.engine) as session:
            actions = session.exec(select(AuditEvent.action).distinct()).all()
        return sorted({action.split(".", 1)[0] for action in actions})


def _set_status(user: User, status: str, action: str, expected: str) -> _Change:
    if user.status != expected:
        raise AccountError(f"{user.email} is {user.status}, not {expected}.", status=409)
    user.status = status
    if status != "active":
        user.session_epoch += 1  # enabling again later must not revive old sessions
    return _Change(action)


def _bump_epoch(user: User) -> _Change:
    user.session_epoch += 1
    return _Change("user.sign_out_everywhere")


def _clear_two_factor(user: User, action: str) -> _Change:
    if not user.totp_enabled:
        raise AccountError(f"{user.email} has no two-factor sign-in.", status=409)
    user.totp_enabled = False
    user.totp_secret_enc = None
    user.recovery_codes = None
    return _Change(action)
