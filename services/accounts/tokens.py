"""Gateway tokens (virtual keys) and the admission check every gateway request passes.

Tokens are stored as SHA-256 hashes; the raw value exists only in the create answer. Lookups are
cached in memory (positive and negative) so the request path does no database read after the
first use; every change to a token or its user invalidates the cache.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.clock import Clock, day_and_month, to_epoch, utcnow
from services.errors import ClusterUnavailable, GatewayError
from services.tables import AppSetting, GatewayToken, UsageRecord, User, UserBudget
from services.usage.settings import settings_writes

TOKEN_PREFIX = "llmh-"
MASTER_KEYS = "master_keys"  # the setting that holds the master keys a config set (services.accounts.master_keys)
NEGATIVE_CACHE_LIMIT = 10_000


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(30)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(slots=True)
class MonthSpend:
    """What one budget holder (a token or a person) spent this UTC month, against its budget, and what
    the calls in flight have reserved of it (their worst-case cost, released when they are metered)."""

    budget_micros: int | None
    month: str
    spent_micros: int = 0
    reserved_micros: int = 0

    def add(self, cost_micros: int, month: str) -> None:
        self.roll(month)
        self.spent_micros += cost_micros

    def used_up(self, month: str) -> bool:
        self.roll(month)
        return self.budget_micros is not None and self.spent_micros + self.reserved_micros >= self.budget_micros

    def roll(self, month: str) -> None:
        if self.month != month:
            self.month, self.spent_micros = month, 0


@dataclass(frozen=True, slots=True)
class Hold:
    """A call's reservation: its worst-case cost, held on each budget it counts against until it is metered.
    A hold taken in the cluster's shared counters has a ``shared_id`` (and ``holders`` names them)."""

    holders: tuple[MonthSpend, ...] = ()
    micros: int = 0
    shared_id: str | None = None
    names: tuple[str, ...] = ()

    def release(self) -> None:
        for holder in self.holders:
            holder.reserved_micros -= self.micros


NO_HOLD = Hold()


@dataclass(slots=True)
class Principal:
    """Who is calling: a user through one of their tokens, or the master key (admin, no token)."""

    user_id: int | None
    role: str
    token_id: int | None = None
    token_name: str | None = None
    rpm: int | None = None
    allowed_models: frozenset[str] | None = None
    expires_at: float | None = None
    token_spend: MonthSpend | None = None
    recent: deque[float] = field(default_factory=deque)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_use(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models


@dataclass(frozen=True, slots=True)
class Refusal:
    """The shared store's no: over the token's rpm (``holder`` None, ``wait`` seconds until a slot frees), or
    over the budget of ``holder`` (``"token:<id>"`` or ``"user:<id>"``)."""

    holder: str | None
    wait: float = 0.0


class SharedLimits(Protocol):
    """Token rpm windows and budget spend shared by every instance of a cluster (``services.cluster``).
    Each method raises ``ClusterUnavailable`` when the shared store does not answer."""

    async def admit(self, rate: tuple[str, int] | None, holders: dict[str, MonthSpend], month: str,
                    worst_case_micros: Callable[[], int]) -> Hold | Refusal:
        """In one step: count the call in the minute of ``rate`` (its window's name, its rpm), then hold its worst
        case on every budget in ``holders`` at once (``worst_case_micros`` asked only when there is one)."""

    def settle(self, hold: Hold, month: str, cost_micros: int) -> None:
        """Release a shared hold and spend the call's real cost (in the background)."""


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class TokenRegistry:
    def __init__(self, engine: Engine, clock: Clock, master_key: str | None) -> None:
        self.engine = engine
        self.clock = clock
        self._master_hash = hash_token(master_key) if master_key else None
        self._by_hash: dict[str, Principal] = {}
        self._unknown: set[str] = set()
        self._master = Principal(user_id=None, role="admin")
        self._people: dict[int, MonthSpend] = {}
        self._settings_seen = settings_writes()
        self._config_masters: dict[str, str] | None = None  # hash → label, read when first needed
        self._masters_seen = -1
        self.shared: SharedLimits | None = None  # set when instances share limits (LLMHUB_REDIS_URL)

    def authenticate(self, raw: str | None) -> Principal:
        """The principal for a bearer token, or GatewayError 401."""
        if not raw:
            raise GatewayError(401, "missing_api_key", "You didn't provide an API key. Send it as `Authorization: Bearer <token>`.")
        digest = hash_token(raw)
        if self._master_hash and hmac.compare_digest(digest, self._master_hash):
            return self._master
        principal = self._by_hash.get(digest)
        if principal is None and digest in self._config_master_keys():
            return self._master
        if principal is None and digest not in self._unknown:
            principal = self._load(digest)
        if principal is None:
            raise GatewayError(401, "invalid_api_key", "Incorrect API key provided.")
        if principal.expires_at is not None and self.clock.now() >= principal.expires_at:
            raise GatewayError(401, "token_expired", f"The token `{principal.token_name}` has expired.")
        return principal

    def _load(self, digest: str) -> Principal | None:
        with Session(self.engine) as session:
            row = session.exec(
                select(GatewayToken, User).join(User, col(User.id) == GatewayToken.user_id).where(GatewayToken.token_hash == digest)
            ).first()
            if row is None or row[0].revoked_at is not None or row[1].status != "active":
                if len(self._unknown) < NEGATIVE_CACHE_LIMIT:
                    self._unknown.add(digest)
                return None
            token, user = row
            spent = _month_spend(session, UsageRecord.token_id == token.id)
        principal = Principal(
            user_id=user.id, role=user.role, token_id=token.id, token_name=token.name, rpm=token.rpm,
            allowed_models=frozenset(token.allowed_models) if token.allowed_models else None,
            expires_at=to_epoch(token.expires_at), token_spend=MonthSpend(token.monthly_budget_micros, _this_month(), spent),
        )
        self._by_hash[digest] = principal
        return principal

    def _config_master_keys(self) -> dict[str, str]:
        """The master keys a config set (hash → label): read once, and again after a settings write."""
        if self._config_masters is None or self._masters_seen != settings_writes():
            self._masters_seen = settings_writes()
            with Session(self.engine) as session:
                row = session.get(AppSetting, MASTER_KEYS)
            entries = row.value if row is not None and isinstance(row.value, list) else []
            self._config_masters = {e["hash"]: e["label"] for e in entries if isinstance(e, dict)}
            self._unknown.difference_update(self._config_masters)
        return self._config_masters

    def _person(self, user_id: int) -> MonthSpend:
        """The person's budget and month spend over all their tokens, read once and then kept up to date here."""
        if self._settings_seen != settings_writes():
            self._settings_seen = settings_writes()
            self._reread_budgets()
        spend = self._people.get(user_id)
        if spend is None:
            with Session(self.engine) as session:
                budget = session.get(UserBudget, user_id)
                spent = _month_spend(session, UsageRecord.user_id == user_id)
            spend = self._people[user_id] = MonthSpend(budget.monthly_budget_micros if budget else None, _this_month(), spent)
        return spend

    def _reread_budgets(self) -> None:
        """After a settings or budget write: new budgets, while the spends counted here stand."""
        if not self._people:
            return
        with Session(self.engine) as session:
            budgets = {row.user_id: row.monthly_budget_micros for row in session.exec(select(UserBudget))}
        for user_id, spend in self._people.items():
            spend.budget_micros = budgets.get(user_id)

    def invalidate(self) -> None:
        """Forget every cached lookup (after any token or user change)."""
        self._by_hash.clear()
        self._unknown.clear()
        self._people.clear()

    async def admit_call(self, principal: Principal, model: str, worst_case_micros: Callable[[], int] = lambda: 0) -> Hold:
        """``admit``, against the cluster's shared windows and budgets when there are several instances (those
        with no rpm or budget pay no round trip). Without an answer from the shared store the call is
        admitted against this instance's own counters, as a single instance would."""
        if self.shared is None or (principal.rpm is None and not self._budgeted(principal)):
            return self.admit(principal, model, worst_case_micros)
        try:
            return await self._admit_shared(self.shared, principal, model, worst_case_micros)
        except ClusterUnavailable:
            return self.admit(principal, model, worst_case_micros)

    def _budgeted(self, principal: Principal) -> bool:
        spend = principal.token_spend
        return (spend is not None and spend.budget_micros is not None) or (
            principal.user_id is not None and self._person(principal.user_id).budget_micros is not None)

    async def _admit_shared(self, shared: SharedLimits, principal: Principal, model: str,
                            worst_case_micros: Callable[[], int]) -> Hold:
        self._check_model(principal, model)
        holders = {name: spend for name, spend in self._budget_holders(principal) if spend.budget_micros is not None}
        rate = (f"token:{principal.token_id}", principal.rpm) if principal.rpm is not None else None
        taken = await shared.admit(rate, holders, _this_month(), worst_case_micros)
        if isinstance(taken, Refusal):
            raise _rpm_refusal(principal.rpm or 0, taken.wait) if taken.holder is None else _budget_refusal(
                person=taken.holder.startswith("user:"))
        return taken

    def _budget_holders(self, principal: Principal) -> list[tuple[str, MonthSpend]]:
        holders = [(f"token:{principal.token_id}", principal.token_spend)] if principal.token_spend is not None else []
        if principal.user_id is not None:
            holders.append((f"user:{principal.user_id}", self._person(principal.user_id)))
        return holders

    @staticmethod
    def _check_model(principal: Principal, model: str) -> None:
        if not principal.may_use(model):
            raise GatewayError(403, "model_not_allowed", f"This token may not use the model `{model}`.", error_type="permission_error")

    def admit(self, principal: Principal, model: str, worst_case_micros: Callable[[], int] = lambda: 0) -> Hold:
        """Enforce the token's model list, rpm and monthly budget and its person's budget; raise GatewayError if refused.

        An admitted call holds ``worst_case_micros()`` (asked only when a budget applies) on each budget
        until ``settle``: a budget refuses once its spend plus the calls in flight reach it, so calls
        admitted together overshoot it by at most one call's reservation, not by all of them."""
        self._check_model(principal, model)
        now = self.clock.now()
        if principal.rpm is not None:
            recent = principal.recent
            while recent and recent[0] <= now - 60:
                recent.popleft()
            if len(recent) >= principal.rpm:
                raise _rpm_refusal(principal.rpm, recent[0] + 60 - now)
            recent.append(now)
        month = _this_month()
        if principal.token_spend is not None and principal.token_spend.used_up(month):
            raise _budget_refusal(person=False)
        person = self._person(principal.user_id) if principal.user_id is not None else None
        if person is not None and person.used_up(month):
            raise _budget_refusal(person=True)
        holders = tuple(spend for spend in (principal.token_spend, person) if spend is not None and spend.budget_micros is not None)
        if not holders:
            return NO_HOLD
        hold = Hold(holders, worst_case_micros())
        for holder in holders:
            holder.reserved_micros += hold.micros
        return hold

    def settle(self, principal: Principal, hold: Hold, cost_micros: int | None) -> None:
        """A call is metered: its reservation is released and its real cost spent."""
        month = _this_month()
        if hold.shared_id is not None and self.shared is not None:
            self.shared.settle(hold, month, cost_micros or 0)
        hold.release()
        if not cost_micros:
            return
        if principal.token_spend is not None:
            principal.token_spend.add(cost_micros, month)
        if principal.user_id is not None:
            self._person(principal.user_id).add(cost_micros, month)


def _rpm_refusal(rpm: int, wait: float) -> GatewayError:
    return GatewayError(429, "rate_limit_exceeded", f"Token rate limit of {rpm} requests per minute reached.",
                        error_type="rate_limit_error", retry_after=max(1, int(wait) + 1))


def _budget_refusal(*, person: bool) -> GatewayError:
    if person:
        return GatewayError(429, "user_budget_exceeded", "Your monthly budget is used up; ask an admin to raise it.",
                            error_type="insufficient_quota")
    return GatewayError(429, "budget_exceeded", "This token's monthly budget is used up.", error_type="insufficient_quota")


def _this_month() -> str:
    return day_and_month(time.time())[1]


def _month_spend(session: Session, holder: Any) -> int:
    """This month's recorded spend of a token or a person (the start point the in-memory counters add to)."""
    total = session.exec(
        select(func.coalesce(func.sum(UsageRecord.cost_micros), 0)).where(holder, UsageRecord.created_at >= month_start(utcnow()))
    ).one()
    return int(total or 0)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The create answer: the only time the raw token exists."""

    token: GatewayToken
    raw: str


def issue_token(
    *,
    session: Session,
    user_id: int,
    name: str,
    monthly_budget_micros: int | None = None,
    rpm: int | None = None,
    allowed_models: list[str] | None = None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    raw = generate_token()
    token = GatewayToken(
        user_id=user_id, name=name, token_hash=hash_token(raw), token_last4=raw[-4:],
        monthly_budget_micros=monthly_budget_micros, rpm=rpm, allowed_models=allowed_models or None, expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token, raw)
