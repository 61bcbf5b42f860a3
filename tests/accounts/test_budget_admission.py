"""Budgets at admission, on their own: a token's and its person's month spend, the reservations calls
in flight hold on them, what was spent before a restart, the month's roll, and master keys a config
set. ``TokenRegistry`` on a real SQLite database; the end-to-end budget tests are in tests/usage."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accounts.audit import Actor
from services.accounts.tokens import MASTER_KEYS, NO_HOLD, Hold, MonthSpend, Principal, TokenRegistry, hash_token, issue_token
from services.clock import utcnow
from services.errors import GatewayError
from services.tables import AppSetting, User
from services.usage.budgets import set_user_budget
from services.usage.settings import note_settings_write
from tests.databases import DatabaseUnderTest
from tests.factories import FakeClock, fresh_engine, usage_row, write_rows

ADMIN = Actor(None, "test")
PEOPLE = itertools.count(1)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, database_backend: DatabaseUnderTest) -> Iterator[Engine]:
    engine = fresh_engine(tmp_path_factory.mktemp("budgets"))  # on database_backend's database (one per module and database)
    yield engine
    engine.dispose()


@pytest.fixture
def registry(engine: Engine) -> TokenRegistry:
    return TokenRegistry(engine, FakeClock(), None)


def person(engine: Engine, budget_micros: int | None = None) -> int:
    with Session(engine) as session:
        user = User(email=f"spender-{next(PEOPLE)}@example.com")
        session.add(user)
        session.commit()
        user_id = user.id or 0
    if budget_micros is not None:
        set_user_budget(engine, ADMIN, user_id, budget_micros)
    return user_id


def new_token(engine: Engine, user_id: int, budget_micros: int | None = None) -> str:
    with Session(engine) as session:
        raw = issue_token(session=session, user_id=user_id, name=f"t{next(PEOPLE)}", monthly_budget_micros=budget_micros).raw
        session.commit()
    return raw


def token_of(registry: TokenRegistry, user_id: int, budget_micros: int | None = None) -> Principal:
    return registry.authenticate(new_token(registry.engine, user_id, budget_micros))


def refusal(registry: TokenRegistry, principal: Principal, worst: int = 0) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        registry.admit(principal, "smart", lambda: worst)
    return caught.value


def test_month_spend_adds_within_a_month_and_rolls_with_the_next() -> None:
    spend = MonthSpend(1000, "2027-01")
    spend.add(400, "2027-01")
    spend.add(500, "2027-01")
    assert spend.spent_micros == 900 and not spend.used_up("2027-01")
    spend.add(100, "2027-01")
    assert spend.used_up("2027-01")  # reaching the budget uses it up
    assert not spend.used_up("2027-02") and (spend.month, spend.spent_micros) == ("2027-02", 0)
    spend.add(50, "2027-03")
    assert (spend.month, spend.spent_micros) == ("2027-03", 50)
    assert not MonthSpend(None, "2027-01", 10**12).used_up("2027-01")  # no budget, no limit


def test_a_hold_counts_against_the_budget_until_released() -> None:
    token, owner = MonthSpend(1000, "2027-01", 300), MonthSpend(5000, "2027-01")
    hold = Hold((token, owner), 700)
    token.reserved_micros += 700
    owner.reserved_micros += 700
    assert token.used_up("2027-01") and not owner.used_up("2027-01")
    hold.release()
    assert (token.reserved_micros, owner.reserved_micros) == (0, 0) and not token.used_up("2027-01")


def test_a_token_budget_holds_each_calls_worst_case_until_it_is_settled(registry: TokenRegistry, engine: Engine) -> None:
    principal = token_of(registry, person(engine), budget_micros=1000)
    holds = [registry.admit(principal, "smart", lambda: 300) for _ in range(4)]  # 0, 300, 600, 900 held before each: all under
    assert principal.token_spend is not None and principal.token_spend.reserved_micros == 1200
    assert {hold.micros for hold in holds} == {300} and holds[0].holders == (principal.token_spend,)
    error = refusal(registry, principal, 300)
    assert (error.status, error.code, error.error_type) == (429, "budget_exceeded", "insufficient_quota")
    registry.settle(principal, holds[0], 450)
    registry.settle(principal, holds[1], None)  # a failed call: only its hold goes
    assert (principal.token_spend.spent_micros, principal.token_spend.reserved_micros) == (450, 600)
    assert refusal(registry, principal).code == "budget_exceeded"  # 450 spent + 600 held
    registry.settle(principal, holds[2], 0)
    registry.admit(principal, "smart", lambda: 300)  # 450 spent + 300 held


def test_no_budget_means_no_hold_and_the_worst_case_is_not_worked_out(registry: TokenRegistry, engine: Engine) -> None:
    principal = token_of(registry, person(engine))
    asked: list[int] = []

    def worst() -> int:
        asked.append(1)
        return 10**9

    assert registry.admit(principal, "smart", worst) is NO_HOLD and asked == []
    registry.settle(principal, NO_HOLD, 10**9)
    assert principal.token_spend is not None and principal.token_spend.spent_micros == 10**9
    registry.admit(principal, "smart", worst)


def test_a_person_budget_covers_all_their_tokens(registry: TokenRegistry, engine: Engine) -> None:
    owner = person(engine, budget_micros=1000)
    laptop, ci = token_of(registry, owner), token_of(registry, owner, budget_micros=10**6)
    hold = registry.admit(laptop, "smart", lambda: 100)
    assert len(hold.holders) == 1 and hold.holders[0].budget_micros == 1000  # the person's budget only: the token has none
    registry.settle(laptop, hold, 600)
    both = registry.admit(ci, "smart", lambda: 100)
    assert [h.budget_micros for h in both.holders] == [10**6, 1000]
    registry.settle(ci, both, 400)
    error = refusal(registry, laptop)
    assert (error.status, error.code, error.error_type) == (429, "user_budget_exceeded", "insufficient_quota")
    assert refusal(registry, ci).code == "user_budget_exceeded"
    assert ci.token_spend is not None and ci.token_spend.spent_micros == 400


def test_a_raised_budget_applies_at_once_and_the_spend_counted_stands(registry: TokenRegistry, engine: Engine) -> None:
    owner = person(engine, budget_micros=500)
    principal = token_of(registry, owner)
    registry.settle(principal, registry.admit(principal, "smart"), 500)
    assert refusal(registry, principal).code == "user_budget_exceeded"
    set_user_budget(engine, ADMIN, owner, 800)
    registry.settle(principal, registry.admit(principal, "smart"), 299)
    registry.admit(principal, "smart")  # 799 of 800
    registry.settle(principal, NO_HOLD, 1)
    assert refusal(registry, principal).code == "user_budget_exceeded"  # the raised budget is a limit too
    set_user_budget(engine, ADMIN, owner, None)
    registry.settle(principal, registry.admit(principal, "smart"), 10**6)
    registry.admit(principal, "smart")


def test_spend_recorded_this_month_counts_from_the_first_lookup(engine: Engine) -> None:
    """After a restart the counters start from what was recorded this UTC month: the token's own calls
    for its budget, all the person's tokens for theirs; last month's and other people's calls do not count."""
    owner = person(engine, budget_micros=1000)
    raw, other = new_token(engine, owner, budget_micros=700), new_token(engine, owner)
    before = TokenRegistry(engine, FakeClock(), None)
    token_id, other_id = before.authenticate(raw).token_id, before.authenticate(other).token_id
    now = utcnow()
    write_rows(engine, [
        usage_row(created_at=now, token_id=token_id, user_id=owner, cost_micros=400),
        usage_row(created_at=now, token_id=other_id, user_id=owner, cost_micros=250),
        usage_row(created_at=now.replace(day=1) - timedelta(days=2), token_id=token_id, user_id=owner, cost_micros=9000),
        usage_row(created_at=now, token_id=None, user_id=None, cost_micros=5000),
    ])
    restarted = TokenRegistry(engine, FakeClock(), None)
    principal = restarted.authenticate(raw)
    hold = restarted.admit(principal, "smart", lambda: 10)
    assert [(h.budget_micros, h.spent_micros, h.reserved_micros) for h in hold.holders] == [(700, 400, 10), (1000, 650, 10)]


def test_master_keys_a_config_set_are_read_again_after_a_settings_write(registry: TokenRegistry, engine: Engine) -> None:
    with pytest.raises(GatewayError):
        registry.authenticate("sk-ops-master-key")
    with Session(engine) as session:
        session.merge(AppSetting(key=MASTER_KEYS, value=[{"hash": hash_token("sk-ops-master-key"), "label": "ops"}, "not an entry"]))
        session.commit()
    with pytest.raises(GatewayError):
        registry.authenticate("sk-ops-master-key")  # nothing said the settings changed
    note_settings_write()
    assert registry.authenticate("sk-ops-master-key").is_admin
    with Session(engine) as session:
        session.merge(AppSetting(key=MASTER_KEYS, value={"not": "a list"}))
        session.commit()
    note_settings_write()
    with pytest.raises(GatewayError):
        registry.authenticate("sk-ops-master-key")
