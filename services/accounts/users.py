"""People and their gateway tokens: the basics (the console adds invites, 2FA, sessions).

Passwords are hashed with argon2 through passlib (passlib with bcrypt 5 is broken). Gateway
tokens are issued by ``services.accounts.tokens.issue_token``; this module lists, edits and revokes them in
public shapes that show only the token's last four characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from passlib.context import CryptContext
from pydantic import BaseModel, Field, SecretStr, field_validator
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.errors import UserError
from services.catalog.service import (
    Count,
    Input,
    Text,
    Usd,
    UtcTime,
    micros_to_usd,
    parse,
    usd_to_micros,
)
from services.clock import utcnow
from services.db import session_scope
from services.tables import GatewayToken, User
from services.accounts.tokens import IssuedToken, issue_token

ROLES = ("admin", "user")
Role = Literal[ROLES]  # type: ignore[valid-type]
MIN_PASSWORD_LENGTH = 8
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+")

password_context = CryptContext(schemes=["argon2"])


def hash_password(password: str) -> str:
    return password_context.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    return password_hash is not None and password_context.verify(password, password_hash)


def spend_password_check_time() -> None:
    """Take as long as one password check, so an unknown e-mail is refused as slowly as a known one."""
    password_context.dummy_verify()


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased, so ``Ann@Example.com`` and ``ann@example.com`` are one person."""
    normalized = email.strip().lower()
    if not EMAIL_PATTERN.fullmatch(normalized) or len(normalized) > 254:
        raise UserError(f"{email.strip()!r} is not an e-mail address", field="email")
    return normalized


# -- users -------------------------------------------------------------------------------------


class UserCreate(Input):
    email: str
    password: SecretStr = Field(description=f"at least {MIN_PASSWORD_LENGTH} characters")
    role: Role = "user"
    name: str = Field("", max_length=200)


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    role: str
    status: str
    totp_enabled: bool = False
    created_at: UtcTime
    last_login_at: UtcTime | None

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls.model_validate(user, from_attributes=True)


def create_user(*, session: Session, email: str, password: str, role: str = "user", name: str = "") -> User:
    email = normalize_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}", field="role")
    if get_user_by_email(session, email) is not None:
        raise UserError(f"a user with the e-mail {email!r} already exists", field="email", status=409)
    user = User(email=email, name=name.strip(), role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email.strip().lower())).first()


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.id))))


def ensure_admin(engine: Engine, email: str, password: str) -> User:
    """The admin with this e-mail, created if missing (idempotent: an existing user is left as is)."""
    with session_scope(engine) as session:
        return get_user_by_email(session, email) or create_user(session=session, email=email, password=password, role="admin")


# -- gateway tokens ----------------------------------------------------------------------------


def _in_utc(moment: datetime | None) -> datetime | None:
    """Stored times are UTC (inputs arrive zoned: ``UtcTime`` takes a naive one as UTC)."""
    return None if moment is None else moment.astimezone(UTC)


class TokenSettings(Input):
    monthly_budget_usd: Usd | None = Field(None, description="spend limit per calendar month (UTC), e.g. \"20\"")
    rpm: Count | None = Field(None, description="requests per minute")
    allowed_models: list[Text] | None = Field(None, description="model names this token may use; null = all")
    expires_at: UtcTime | None = Field(None, description="UTC unless a zone is given")


class TokenCreate(TokenSettings):
    name: Text
    user_id: int | None = Field(None, description="the owner; or give user_email")
    user_email: str | None = None


class TokenUpdate(TokenSettings):
    """Only the fields sent change; null removes a limit."""

    name: Text | None = None

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("may not be null (leave the field out to keep its value)")
        return value


class TokenPublic(BaseModel):
    id: int
    user_id: int
    user_email: str
    name: str
    token_masked: str
    monthly_budget_usd: Decimal | None
    rpm: int | None
    allowed_models: list[str] | None
    expires_at: UtcTime | None
    revoked_at: UtcTime | None
    created_at: UtcTime
    last_used_at: UtcTime | None

    @classmethod
    def of(cls, token: GatewayToken, email: str) -> TokenPublic:
        return cls(
            id=token.id or 0, user_id=token.user_id, user_email=email, name=token.name, token_masked="…" + token.token_last4,
            monthly_budget_usd=micros_to_usd(token.monthly_budget_micros), rpm=token.rpm, allowed_models=token.allowed_models,
            expires_at=token.expires_at, revoked_at=token.revoked_at, created_at=token.created_at, last_used_at=token.last_used_at,
        )


class TokenCreated(TokenPublic):
    token: str = Field(description="the raw token: shown only in this answer")


def _token_values(data: TokenSettings, *, only_sent: bool) -> dict[str, Any]:
    values = data.model_dump(exclude_unset=only_sent, include={"name", "rpm", "allowed_models", "expires_at", "monthly_budget_usd"})
    if "monthly_budget_usd" in values:
        values["monthly_budget_micros"] = usd_to_micros(values.pop("monthly_budget_usd"))
    if "allowed_models" in values:
        values["allowed_models"] = values["allowed_models"] or None
    if "expires_at" in values:
        values["expires_at"] = _in_utc(values["expires_at"])
    return values


def _owner(session: Session, user_id: int | None, user_email: str | None) -> User:
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None:
            raise UserError(f"no user with id {user_id}", field="user_id", status=404)
        return user
    if not user_email:
        raise UserError("give the token's owner as user_id or user_email", field="user_id")
    user = get_user_by_email(session, user_email)
    if user is None:
        raise UserError(f"no user with the e-mail {user_email!r}", field="user_email", status=404)
    return user


def create_token(*, session: Session, data: TokenCreate | Mapping[str, Any]) -> tuple[IssuedToken, User]:
    spec = parse(TokenCreate, data, UserError)
    owner = _owner(session, spec.user_id, spec.user_email)
    issued = issue_token(session=session, user_id=owner.id or 0, **_token_values(spec, only_sent=False))
    return issued, owner


def list_tokens(session: Session, *, user_id: int | None = None) -> list[TokenPublic]:
    query = select(GatewayToken, User.email).join(User, col(User.id) == GatewayToken.user_id).order_by(col(GatewayToken.id))
    if user_id is not None:
        query = query.where(GatewayToken.user_id == user_id)
    return [TokenPublic.of(token, email) for token, email in session.exec(query)]


def _token(session: Session, token_id: int) -> tuple[GatewayToken, str]:
    row = session.exec(select(GatewayToken, User.email).join(User, col(User.id) == GatewayToken.user_id).where(GatewayToken.id == token_id)).first()
    if row is None:
        raise UserError(f"no token with id {token_id}", field="token_id", status=404)
    return row[0], row[1]


def update_token(*, session: Session, token_id: int, data: TokenUpdate | Mapping[str, Any]) -> TokenPublic:
    spec = parse(TokenUpdate, data, UserError)
    token, email = _token(session, token_id)
    for name, value in _token_values(spec, only_sent=True).items():
        setattr(token, name, value)
    session.add(token)
    session.flush()
    return TokenPublic.of(token, email)


def revoke_token(*, session: Session, token_id: int) -> TokenPublic:
    """Revoked tokens stay listed (their usage history points at them); revoking twice is harmless."""
    token, email = _token(session, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        session.flush()
    return TokenPublic.of(token, email)
