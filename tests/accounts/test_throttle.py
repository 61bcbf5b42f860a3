"""The sign-in throttle on its own, with a hand-moved clock."""

from __future__ import annotations

from services.accounts.throttle import SignInThrottle, throttled_message
from tests.factories import FakeClock


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


def test_throttled_message_rounds_up_to_whole_minutes() -> None:
    assert throttled_message(1) == "Too many failed sign-ins, try again in 1 minute."
    assert throttled_message(61) == "Too many failed sign-ins, try again in 2 minutes."
