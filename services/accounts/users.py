"""People: the basics of a user record (``Accounts`` adds invites, 2FA, sessions and the audit log).

Passwords are hashed with argon2 through passlib (passlib with bcrypt 5 is broken). Gateway tokens
live in ``services.accounts.gateway_tokens``.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from passlib.context import CryptContext
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.catalog.inputs import Input, UtcTime
from services.db import session_scope
from services.errors import UserError
from services.tables import User

Role = Literal["admin", "user"]
ROLES: tuple[Role, ...] = get_args(Role)
MIN_PASSWORD_LENGTH = 8
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+")

password_context = CryptContext(schemes=["argon2"])


def hash_password(password: str) -> str:
    hashed: str = password_context.hash(password)  # passlib is untyped
    return hashed


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
