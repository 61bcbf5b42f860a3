"""Gateway tokens (virtual keys) as people and admins manage them: issue, list, change, revoke.

``GatewayTokens`` is the one write path for both doors: the management API (an admin issues a token
for anyone) and the console's token panel (an own token is one issued for the acting user). Each
write is one transaction; once it commits, the token registry forgets its cached lookups
(``on_tokens_changed``) and the audit event is written, naming the token by its name and masked
value. Answers are public shapes that show only a token's last four characters; the raw token
exists only in the ``TokenCreated`` answer (the database keeps its hash, see ``tokens.issue_token``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import Select

from services.accounts.audit import Actor, record_event
from services.accounts.tokens import issue_token, month_start
from services.accounts.users import get_user_by_email
from services.catalog.inputs import (
    Count,
    Input,
    Text,
    Usd,
    UtcTime,
    micros_to_usd,
    parse,
    usd_to_micros,
)
from services.clock import Clock
from services.db import RowId, session_scope
from services.errors import AccountError, UserError
from services.tables import GatewayToken, UsageRecord, User

# -- shapes --------------------------------------------------------------------------------------


class TokenSettings(Input):
    monthly_budget_usd: Usd | None = Field(None, description="spend limit per calendar month (UTC), e.g. \"20\"")
    rpm: Count | None = Field(None, description="requests per minute")
    allowed_models: list[Text] | None = Field(None, description="model names this token may use; null = all")
    expires_at: UtcTime | None = Field(None, description="UTC unless a zone is given")


class TokenCreate(TokenSettings):
    name: Text
    user_id: RowId | None = Field(None, description="the owner; or give user_email")
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


class OwnToken(TokenPublic):
    """A row of a person's own token list."""

    month_spend_usd: Decimal
    status: str  # "active" | "expired" | "revoked"



# -- the facade ----------------------------------------------------------------------------------


class GatewayTokens:
    """Token operations for the management API and the console: each write takes the acting principal."""

    def __init__(self, engine: Engine, clock: Clock, *, on_tokens_changed: Callable[[], None] = lambda: None) -> None:
        """``on_tokens_changed`` runs after every committed change (the token registry caches each
        token's limits and status)."""
        self.engine = engine
        self.clock = clock
        self._on_tokens_changed = on_tokens_changed

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def list_tokens(self, *, user_id: int | None = None, user_email: str | None = None) -> list[TokenPublic]:
        """Every token (or one owner's, by id or e-mail; an unknown e-mail owns none), oldest first."""
        with Session(self.engine) as session:
            if user_email is not None:
                owner = get_user_by_email(session, user_email)
                if owner is None:
                    return []
                user_id = owner.id
            return _listed(session, user_id)

    def list_own(self, user_id: int) -> list[OwnToken]:
        """The user's tokens, newest first, with what each has spent this calendar month (UTC)."""
        now = self._now()
        with Session(self.engine) as session:
            tokens = _listed(session, user_id)
            spend = _month_spend(session, [t.id for t in tokens], month_start(now))
        return [
            OwnToken(**t.model_dump(), month_spend_usd=micros_to_usd(spend.get(t.id, 0)) or Decimal(0), status=_status(t, now))
            for t in reversed(tokens)
        ]

    def issue(self, actor: Actor, data: TokenCreate | Mapping[str, Any]) -> TokenCreated:
        """A new token for the owner named in ``data`` (the console names the acting user)."""
        spec = parse(TokenCreate, data, UserError)
        if spec.expires_at is not None and spec.expires_at <= self._now():
            raise AccountError("The expiry date must be in the future.", field="expires_at")
        with session_scope(self.engine) as session:
            owner = _owner(session, spec.user_id, spec.user_email)
            issued = issue_token(session=session, user_id=owner.id or 0, **_token_values(spec, only_sent=False))
            created = TokenCreated(**TokenPublic.of(issued.token, owner.email).model_dump(), token=issued.raw)
        self._changed(actor, "token.create", created, owner=created.user_email)
        return created

    def update(self, actor: Actor, token_id: int, data: TokenUpdate | Mapping[str, Any]) -> TokenPublic:
        spec = parse(TokenUpdate, data, UserError)
        with session_scope(self.engine) as session:
            token, email = _token(session, token_id)
            for name, value in _token_values(spec, only_sent=True).items():
                setattr(token, name, value)
            session.add(token)
            session.flush()
            public = TokenPublic.of(token, email)
        self._changed(actor, "token.update", public, fields=sorted(spec.model_fields_set))
        return public

    def revoke(self, actor: Actor, token_id: int, *, owner_id: int | None = None) -> TokenPublic:
        """Revoked tokens stay listed (their usage history points at them); revoking twice is harmless.
        With ``owner_id`` (the console's own tokens) another person's token is not found."""
        with session_scope(self.engine) as session:
            token, email = _token(session, token_id, owner_id)
            if token.revoked_at is None:
                token.revoked_at = self._now()
                session.add(token)
                session.flush()
            public = TokenPublic.of(token, email)
        self._changed(actor, "token.revoke", public, owner=public.user_email)
        return public

    def _changed(self, actor: Actor, action: str, token: TokenPublic, **detail: Any) -> None:
        """After a committed change: drop the registry's cached lookups, then write the audit event."""
        self._on_tokens_changed()
        record_event(self.engine, actor, action, f"{token.name} {token.token_masked}", {"token_id": token.id, **detail})


# -- records -------------------------------------------------------------------------------------


def _with_owner_email() -> Select[GatewayToken, str]:
    return select(GatewayToken, User.email).join(User, col(User.id) == GatewayToken.user_id)


def _listed(session: Session, user_id: int | None) -> list[TokenPublic]:
    query = _with_owner_email().order_by(col(GatewayToken.id))
    if user_id is not None:
        query = query.where(GatewayToken.user_id == user_id)
    return [TokenPublic.of(token, email) for token, email in session.exec(query)]


def _token(session: Session, token_id: int, owner_id: int | None = None) -> tuple[GatewayToken, str]:
    query = _with_owner_email().where(GatewayToken.id == token_id)
    if owner_id is not None:
        query = query.where(GatewayToken.user_id == owner_id)
    row = session.exec(query).first()
    if row is None:
        raise UserError(f"no token with id {token_id}", field="token_id", status=404)
    return row[0], row[1]


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


def _token_values(data: TokenSettings, *, only_sent: bool) -> dict[str, Any]:
    """Input fields as table columns: money in micro-dollars, no empty model list, times in UTC
    (inputs arrive zoned: ``UtcTime`` takes a naive one as UTC)."""
    values = data.model_dump(exclude_unset=only_sent, include={"name", "rpm", "allowed_models", "expires_at", "monthly_budget_usd"})
    if "monthly_budget_usd" in values:
        values["monthly_budget_micros"] = usd_to_micros(values.pop("monthly_budget_usd"))
    if "allowed_models" in values:
        values["allowed_models"] = values["allowed_models"] or None
    if values.get("expires_at") is not None:
        values["expires_at"] = values["expires_at"].astimezone(UTC)
    return values


def _status(token: TokenPublic, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at is not None and token.expires_at <= now else "active"


def _month_spend(session: Session, token_ids: list[int], since: datetime) -> dict[int, int]:
    """Micro-dollars spent per token since ``since``."""
    if not token_ids:
        return {}
    query = (
        select(UsageRecord.token_id, func.coalesce(func.sum(UsageRecord.cost_micros), 0))
        .where(col(UsageRecord.token_id).in_(token_ids), UsageRecord.created_at >= since)
        .group_by(col(UsageRecord.token_id))
    )
    return {token_id: int(total or 0) for token_id, total in session.exec(query) if token_id is not None}
