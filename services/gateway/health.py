"""The records the key-state store keeps per key, deployment, route and provider, and the reasons a
candidate is passed over: plain data with the arithmetic of their own windows, no policy.

The policy (what a 429 or a run of failures does to them, which limits apply) is
``services.gateway.key_state.KeyStateStore``'s.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from services.clock import day_and_month
from services.gateway.routing_table import Limits

WINDOW_SECONDS = 60.0

Deployment = tuple[int, str]
"""A key serving one upstream model: (key id, upstream model)."""


class SkipReason(StrEnum):
    """Why a candidate was passed over; the values appear in attempt trails and usage exports."""

    DISABLED = "disabled"
    INVALID = "invalid"
    EXHAUSTED = "exhausted"
    COOLING = "cooling"  # the deployment got a 429, or an admin cooled the key down
    FAILING = "failing"  # the deployment failed repeatedly and rests
    OVER_RPM = "over_rpm"
    OVER_TPM = "over_tpm"
    OVER_DAILY_TOKENS = "over_daily_tokens"
    OVER_MONTHLY_BUDGET = "over_monthly_budget"
    ROUTE_OVER_RPM = "route_over_rpm"
    ROUTE_OVER_TPM = "route_over_tpm"
    ROUTE_OVER_DAILY_TOKENS = "route_over_daily_tokens"
    ROUTE_OVER_MONTHLY_BUDGET = "route_over_monthly_budget"
    CIRCUIT_OPEN = "circuit_open"
    TOO_LONG = "too_long"  # the request does not fit the route's context window


#: Skip reasons that end by themselves at a known time (the router may wait for them).
TIMED_REASONS = frozenset({
    SkipReason.COOLING, SkipReason.FAILING, SkipReason.OVER_RPM, SkipReason.OVER_TPM,
    SkipReason.ROUTE_OVER_RPM, SkipReason.ROUTE_OVER_TPM, SkipReason.CIRCUIT_OPEN,
})
KEY_LIMIT_REASONS = (SkipReason.OVER_RPM, SkipReason.OVER_TPM, SkipReason.OVER_DAILY_TOKENS, SkipReason.OVER_MONTHLY_BUDGET)
ROUTE_LIMIT_REASONS = (
    SkipReason.ROUTE_OVER_RPM, SkipReason.ROUTE_OVER_TPM, SkipReason.ROUTE_OVER_DAILY_TOKENS, SkipReason.ROUTE_OVER_MONTHLY_BUDGET,
)


@dataclass(slots=True)
class UsageWindow:
    """What counts against one set of limits: the last minute's requests and tokens, and the UTC day's
    tokens and month's spend."""

    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)  # (when, tokens) of the last minute's calls
    window_tokens: int = 0  # their sum, kept as they come and go: a busy key's minute holds thousands
    day: str = ""
    day_tokens: int = 0
    month: str = ""
    month_cost_micros: int = 0

    def roll(self, now: float) -> None:
        horizon = now - WINDOW_SECONDS
        while self.requests and self.requests[0] <= horizon:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= horizon:
            self.window_tokens -= self.tokens.popleft()[1]
        day, month = day_and_month(now)
        if self.day != day:
            self.day, self.day_tokens = day, 0
        if self.month != month:
            self.month, self.month_cost_micros = month, 0

    def over(self, limits: Limits, now: float) -> int | None:
        """Which limit is reached (0 rpm, 1 tpm, 2 daily tokens, 3 monthly spend), or None."""
        self.roll(now)
        if limits.rpm is not None and len(self.requests) >= limits.rpm:
            return 0
        if limits.tpm is not None and self.window_tokens >= limits.tpm:
            return 1
        if limits.daily_tokens is not None and self.day_tokens >= limits.daily_tokens:
            return 2
        if limits.monthly_usd_micros is not None and self.month_cost_micros >= limits.monthly_usd_micros:
            return 3
        return None

    def hold(self, tokens: int, now: float) -> None:
        """Count a call's estimated prompt in the minute's tokens at admission, so calls admitted together
        see each other against a tpm limit."""
        self.roll(now)
        self.tokens.append((now, tokens))
        self.window_tokens += tokens

    def add(self, tokens: int, cost_micros: int | None, now: float, held: int = 0) -> None:
        """Meter a finished call; ``held`` tokens of it are in the minute's window since admission (an
        estimate: only what the call took beyond it is added, never taken back)."""
        self.roll(now)
        minute = max(tokens - held, 0)
        if minute:
            self.tokens.append((now, minute))
            self.window_tokens += minute
        self.day_tokens += tokens
        self.month_cost_micros += cost_micros or 0

    def recovery(self, limit: int) -> float | None:
        """When an rpm (0) or tpm (1) window frees up again."""
        if limit == 0 and self.requests:
            return self.requests[0] + WINDOW_SECONDS
        if limit == 1 and self.tokens:
            return self.tokens[0][0] + WINDOW_SECONDS
        return None


@dataclass(slots=True)
class KeyHealth:
    cooldown_until: float = 0.0  # an admin's cooldown of the whole key
    disabled_reason: SkipReason | None = None  # INVALID or EXHAUSTED
    exhausted_until: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    usage: UsageWindow = field(default_factory=UsageWindow)


@dataclass(slots=True)
class DeploymentHealth:
    cooldown_until: float = 0.0  # after a 429
    resting_until: float = 0.0  # after ``circuit_threshold`` transient failures in a row
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None


@dataclass(slots=True)
class Circuit:
    consecutive_failures: int = 0
    open_until: float = 0.0
    probe_in_flight: bool = False
    failing_models: set[str] = field(default_factory=set)  # the models in the current run of failures
    connection_failed: bool = False  # the current run holds a connection failure


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    """One deployment as the console shows it."""

    model: str
    status: str  # "cooling" | "failing" | "active"
    until: float | None
    consecutive_failures: int
    last_error: str | None
    last_error_at: float | None
