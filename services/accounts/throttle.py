"""The brake on password guessing: failed sign-ins counted per account and per client address."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from services.clock import Clock


def throttled_message(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many failed sign-ins, try again in {minutes} minute{'' if minutes == 1 else 's'}."


class SignInThrottle:
    """Counts failed sign-ins per account (the attempted e-mail) and per client address.

    ``limit`` failures within ``window`` seconds lock that account or address for ``lockout``
    seconds. An address gets a higher limit, since several people may share one (an office NAT).
    The state lives in memory: a restart forgets it, which is fine for a brake on guessing. Several
    instances tell each other what they counted (``on_record``, set by the hub; ``replay`` applies
    another instance's record), so a guesser gains nothing by spreading tries over them.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        account_limit: int = 5,
        address_limit: int = 20,
        window: float = 900.0,
        lockout: float = 900.0,
        max_tracked: int = 10_000,
    ) -> None:
        self.clock = clock
        self.account_limit = account_limit
        self.address_limit = address_limit
        self.window = window
        self.lockout = lockout
        self.max_tracked = max_tracked
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self.on_record: Callable[[str, str, str | None], None] = lambda outcome, email, ip: None

    def _keys(self, email: str, ip: str | None) -> list[tuple[str, int]]:
        keys = [(f"account:{email.strip().lower()}", self.account_limit)]
        if ip:
            keys.append((f"address:{ip}", self.address_limit))
        return keys

    def wait_seconds(self, email: str, ip: str | None) -> float:
        """How long this account or address must still wait (0 when it may try)."""
        now = self.clock.now()
        return max(0.0, *(self._locked_until.get(key, 0.0) - now for key, _ in self._keys(email, ip)))

    def record_failure(self, email: str, ip: str | None) -> None:
        self._count_failure(email, ip)
        self.on_record("failure", email, ip)

    def replay(self, outcome: str, email: str, ip: str | None) -> None:
        """Another instance's record: counted here too, not told back."""
        if outcome == "failure":
            self._count_failure(email, ip)
        elif outcome == "success":
            self._clear_account(email)

    def _count_failure(self, email: str, ip: str | None) -> None:
        now = self.clock.now()
        self._forget_stale(now)
        for key, limit in self._keys(email, ip):
            failures = self._failures.setdefault(key, deque())
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            failures.append(now)
            if len(failures) >= limit:
                self._locked_until[key] = now + self.lockout
                failures.clear()

    def record_success(self, email: str) -> None:
        """A correct sign-in clears the account's count (not the address's: one good account
        must not reset a guesser's budget for the others)."""
        self._clear_account(email)
        self.on_record("success", email, None)

    def _clear_account(self, email: str) -> None:
        key = self._keys(email, None)[0][0]
        self._failures.pop(key, None)
        self._locked_until.pop(key, None)

    def _forget_stale(self, now: float) -> None:
        if len(self._failures) + len(self._locked_until) < self.max_tracked:
            return
        self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > now - self.window}
        self._locked_until = {k: v for k, v in self._locked_until.items() if v > now}
