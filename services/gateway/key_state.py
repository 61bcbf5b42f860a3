"""Health of keys and providers, kept in memory for the request path.

Each key has a cooldown (429), a disabled reason (``invalid`` after 401/403, ``exhausted`` after a
provider quota error), sliding one-minute windows for its rpm/tpm limits, and day/month counters
for its daily-token and monthly-USD limits. Each provider has a circuit breaker: consecutive
failures open it; after the open period one probe is let through (half-open) and its result closes
or re-opens it. Changed entries are marked dirty and mirrored to the database by a periodic job,
so state survives a restart.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from services.clock import Clock, day_and_month, to_datetime, to_epoch, utcnow
from services.errors import TRANSIENT_FAILURES, ErrorKind, UpstreamError
from services.gateway.routing_table import KeyEntry
from services.tables import KeyState, ProviderCircuit

WINDOW_SECONDS = 60.0
MAX_COOLDOWN_SECONDS = 3600.0  # a Retry-After beyond this is treated as a typo, not obeyed for days


class SkipReason(StrEnum):
    """Why a candidate was passed over; the values appear in attempt trails and usage exports."""

    DISABLED = "disabled"
    INVALID = "invalid"
    EXHAUSTED = "exhausted"
    COOLING = "cooling"
    OVER_RPM = "over_rpm"
    OVER_TPM = "over_tpm"
    OVER_DAILY_TOKENS = "over_daily_tokens"
    OVER_MONTHLY_BUDGET = "over_monthly_budget"
    CIRCUIT_OPEN = "circuit_open"


#: Skip reasons that end by themselves at a known time (the router may wait for them).
TIMED_REASONS = frozenset({SkipReason.COOLING, SkipReason.OVER_RPM, SkipReason.OVER_TPM, SkipReason.CIRCUIT_OPEN})


@dataclass(slots=True)
class KeyHealth:
    cooldown_until: float = 0.0
    disabled_reason: SkipReason | None = None  # INVALID or EXHAUSTED
    exhausted_until: float | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)  # (when, tokens) of the last minute's calls
    window_tokens: int = 0  # their sum, kept as they come and go: a busy key's minute holds thousands
    day: str = ""
    day_tokens: int = 0
    month: str = ""
    month_cost_micros: int = 0


@dataclass(slots=True)
class Circuit:
    consecutive_failures: int = 0
    open_until: float = 0.0
    probe_in_flight: bool = False


def _next_utc_midnight(epoch: float) -> float:
    moment = datetime.fromtimestamp(epoch, UTC)
    return (moment.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).timestamp()


class KeyStateStore:
    def __init__(
        self,
        clock: Clock,
        *,
        default_cooldown: float = 30.0,
        circuit_threshold: int = 5,
        circuit_open_seconds: float = 30.0,
    ) -> None:
        self.clock = clock
        self.default_cooldown = default_cooldown
        self.circuit_threshold = circuit_threshold
        self.circuit_open_seconds = circuit_open_seconds
        self.keys: dict[int, KeyHealth] = {}
        self.circuits: dict[int, Circuit] = {}
        self.dirty_keys: set[int] = set()
        self.dirty_circuits: set[int] = set()

    def health(self, key_id: int) -> KeyHealth:
        health = self.keys.get(key_id)
        if health is None:
            health = self.keys[key_id] = KeyHealth()
        return health

    def circuit(self, provider_id: int) -> Circuit:
        circuit = self.circuits.get(provider_id)
        if circuit is None:
            circuit = self.circuits[provider_id] = Circuit()
        return circuit

    # -- decisions ---------------------------------------------------------------------------

    def skip_reason(self, key: KeyEntry, now: float) -> SkipReason | None:
        """Why this key may not take a request now, or None when it may."""
        if not key.enabled:
            return SkipReason.DISABLED
        health = self.keys.get(key.id)
        if health is None:
            return None
        if health.disabled_reason == SkipReason.EXHAUSTED and health.exhausted_until and now >= health.exhausted_until:
            self._clear_disabled(key.id, health)
        if health.disabled_reason:
            return health.disabled_reason
        if now < health.cooldown_until:
            return SkipReason.COOLING
        return self._quota_reason(key, health, now)

    def _quota_reason(self, key: KeyEntry, health: KeyHealth, now: float) -> SkipReason | None:
        if key.rpm is None and key.tpm is None and key.daily_tokens is None and key.monthly_usd_micros is None:
            return None  # most keys have no limits: nothing to roll forward for them here
        self._roll_windows(health, now)
        if key.rpm is not None and len(health.requests) >= key.rpm:
            return SkipReason.OVER_RPM
        if key.tpm is not None and health.window_tokens >= key.tpm:
            return SkipReason.OVER_TPM
        if key.daily_tokens is not None and health.day_tokens >= key.daily_tokens:
            return SkipReason.OVER_DAILY_TOKENS
        if key.monthly_usd_micros is not None and health.month_cost_micros >= key.monthly_usd_micros:
            return SkipReason.OVER_MONTHLY_BUDGET
        return None

    def _roll_windows(self, health: KeyHealth, now: float) -> None:
        horizon = now - WINDOW_SECONDS
        while health.requests and health.requests[0] <= horizon:
            health.requests.popleft()
        while health.tokens and health.tokens[0][0] <= horizon:
            health.window_tokens -= health.tokens.popleft()[1]
        day, month = day_and_month(now)
        if health.day != day:
            health.day, health.day_tokens = day, 0
        if health.month != month:
            health.month, health.month_cost_micros = month, 0

    def recovery_time(self, key: KeyEntry, reason: SkipReason, now: float) -> float | None:
        """When a timed skip reason ends (epoch seconds), or None when it does not end by itself."""
        health = self.health(key.id)
        if reason == SkipReason.COOLING:
            return health.cooldown_until
        if reason == SkipReason.OVER_RPM and health.requests:
            return health.requests[0] + WINDOW_SECONDS
        if reason == SkipReason.OVER_TPM and health.tokens:
            return health.tokens[0][0] + WINDOW_SECONDS
        if reason == SkipReason.CIRCUIT_OPEN:
            return self.circuit(key.provider_id).open_until
        return None

    def circuit_allows(self, provider_id: int, now: float) -> bool:
        """Closed: yes. Open: no. Open period over: yes for exactly one probe at a time."""
        circuit = self.circuits.get(provider_id)
        if circuit is None or circuit.consecutive_failures < self.circuit_threshold:
            return True
        if now < circuit.open_until or circuit.probe_in_flight:
            return False
        circuit.probe_in_flight = True
        return True

    # -- outcomes ----------------------------------------------------------------------------

    def note_request(self, key: KeyEntry, now: float) -> None:
        if key.rpm is not None:
            self.health(key.id).requests.append(now)

    def note_usage(self, key_id: int, tokens: int, cost_micros: int | None, now: float) -> None:
        health = self.health(key_id)
        self._roll_windows(health, now)
        health.tokens.append((now, tokens))
        health.window_tokens += tokens
        health.day_tokens += tokens
        health.month_cost_micros += cost_micros or 0
        self.dirty_keys.add(key_id)

    def on_success(self, key: KeyEntry) -> None:
        health = self.health(key.id)
        if health.consecutive_failures:
            health.consecutive_failures = 0
            self.dirty_keys.add(key.id)
        circuit = self.circuits.get(key.provider_id)
        if circuit is not None and (circuit.consecutive_failures or circuit.probe_in_flight):
            self.circuits[key.provider_id] = Circuit()
            self.dirty_circuits.add(key.provider_id)

    def on_failure(self, key: KeyEntry, error: UpstreamError, now: float) -> None:
        health = self.health(key.id)
        health.last_error = f"{error.kind.value}: {error.message}"[:500]
        health.last_error_at = now
        if error.kind is ErrorKind.RATE_LIMITED:
            wait = min(error.retry_after if error.retry_after is not None else self.default_cooldown, MAX_COOLDOWN_SECONDS)
            health.cooldown_until = max(health.cooldown_until, now + wait)
        elif error.kind is ErrorKind.AUTH:
            health.disabled_reason = SkipReason.INVALID
        elif error.kind is ErrorKind.QUOTA_EXHAUSTED:
            health.disabled_reason = SkipReason.EXHAUSTED
            health.exhausted_until = _next_utc_midnight(now)
        elif error.kind in TRANSIENT_FAILURES:
            health.consecutive_failures += 1
            self._count_provider_failure(key.provider_id, now)
        self.dirty_keys.add(key.id)

    def _count_provider_failure(self, provider_id: int, now: float) -> None:
        circuit = self.circuit(provider_id)
        circuit.consecutive_failures += 1
        circuit.probe_in_flight = False
        if circuit.consecutive_failures >= self.circuit_threshold:
            circuit.open_until = now + self.circuit_open_seconds
        self.dirty_circuits.add(provider_id)

    def release_probe(self, provider_id: int) -> None:
        """A half-open probe ended without a verdict (e.g. a client error): let another through."""
        circuit = self.circuits.get(provider_id)
        if circuit is not None:
            circuit.probe_in_flight = False

    # -- admin actions -----------------------------------------------------------------------

    def force_cooldown(self, key_id: int, seconds: float) -> None:
        health = self.health(key_id)
        health.cooldown_until = self.clock.now() + seconds
        self.dirty_keys.add(key_id)

    def reset_key(self, key_id: int) -> None:
        """Clear cooldown, invalid/exhausted marks and failures (after an admin fix or a passing test)."""
        health = self.health(key_id)
        health.cooldown_until = 0.0
        health.consecutive_failures = 0
        self._clear_disabled(key_id, health)

    def _clear_disabled(self, key_id: int, health: KeyHealth) -> None:
        health.disabled_reason = None
        health.exhausted_until = None
        self.dirty_keys.add(key_id)

    def forget(self, key_ids: list[int], provider_id: int | None = None) -> None:
        """Drop the health of deleted keys (and a deleted provider's circuit)."""
        for key_id in key_ids:
            self.keys.pop(key_id, None)
            self.dirty_keys.discard(key_id)
        if provider_id is not None:
            self.circuits.pop(provider_id, None)
            self.dirty_circuits.discard(provider_id)

    def clear_expired(self) -> int:
        """Scheduled job: drop cooldowns, exhaustion and open circuits whose time has passed."""
        now = self.clock.now()
        cleared = 0
        for key_id, health in list(self.keys.items()):
            if health.cooldown_until and health.cooldown_until <= now:
                health.cooldown_until = 0.0
                self.dirty_keys.add(key_id)
                cleared += 1
            if health.exhausted_until and health.exhausted_until <= now:
                self._clear_disabled(key_id, health)
                cleared += 1
            self._roll_windows(health, now)
        return cleared

    def status(self, key_id: int, now: float) -> str:
        """One word for the console: active, cooling, exhausted, invalid."""
        health = self.keys.get(key_id)
        if health is None:
            return "active"
        if health.disabled_reason:
            return health.disabled_reason
        return "cooling" if now < health.cooldown_until else "active"

    # -- persistence -------------------------------------------------------------------------

    def load(self, key_rows: list[KeyState], circuit_rows: list[ProviderCircuit]) -> None:
        for key_row in key_rows:
            self.keys[key_row.key_id] = KeyHealth(
                cooldown_until=to_epoch(key_row.cooldown_until) or 0.0,
                disabled_reason=SkipReason(key_row.disabled_reason) if key_row.disabled_reason else None,
                exhausted_until=to_epoch(key_row.exhausted_until),
                consecutive_failures=key_row.consecutive_failures,
                last_error=key_row.last_error,
                last_error_at=to_epoch(key_row.last_error_at),
                day=key_row.day or "",
                day_tokens=key_row.day_tokens,
                month=key_row.month or "",
                month_cost_micros=key_row.month_cost_micros,
            )
        for circuit_row in circuit_rows:
            self.circuits[circuit_row.provider_id] = Circuit(circuit_row.consecutive_failures, to_epoch(circuit_row.open_until) or 0.0)

    def take_dirty(self) -> tuple[list[KeyState], list[ProviderCircuit]]:
        """Rows for every entry changed since the last call (the mirror job writes them)."""
        dirty_keys, self.dirty_keys = self.dirty_keys, set()
        dirty_circuits, self.dirty_circuits = self.dirty_circuits, set()
        return [self._key_row(k) for k in dirty_keys], [self._circuit_row(p) for p in dirty_circuits]

    def _key_row(self, key_id: int) -> KeyState:
        h = self.health(key_id)
        return KeyState(
            key_id=key_id,
            cooldown_until=to_datetime(h.cooldown_until or None),
            disabled_reason=h.disabled_reason,
            exhausted_until=to_datetime(h.exhausted_until),
            consecutive_failures=h.consecutive_failures,
            last_error=h.last_error,
            last_error_at=to_datetime(h.last_error_at),
            day=h.day or None,
            day_tokens=h.day_tokens,
            month=h.month or None,
            month_cost_micros=h.month_cost_micros,
            updated_at=utcnow(),
        )

    def _circuit_row(self, provider_id: int) -> ProviderCircuit:
        c = self.circuit(provider_id)
        return ProviderCircuit(
            provider_id=provider_id,
            consecutive_failures=c.consecutive_failures,
            open_until=to_datetime(c.open_until or None),
            updated_at=utcnow(),
        )
