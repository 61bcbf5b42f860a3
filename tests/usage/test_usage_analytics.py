"""Analytics over rollups: ranges and buckets, KPIs, stacked series, breakdown paging, budgets,
and the viewer scope (a user only ever sees their own usage, whatever they filter for)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from services.errors import UsageError
from services.usage.analytics import (
    MAX_STACKS,
    OTHER,
    aligned_range,
    breakdown,
    day_range,
    filter_options,
    kpis,
    latency_series,
    preset_range,
    provider_error_rates,
    usage_series,
)
from services.usage.budgets import budget_lines, set_user_budget
from services.usage.queries import ADMIN, UsageFilter, Viewer, page_usage, usage_detail
from services.usage.rollups import DAY, HOUR
from tests.factories import NOW, TEST_ACTOR, add_people, fresh_engine, usage_row, write_rows


@pytest.fixture
def seeded(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = fresh_engine(tmp_path)
    ids = add_people(engine)
    ann = {"user_id": ids["ann"], "token_id": ids["ann_token"]}
    bob = {"user_id": ids["bob"], "token_id": ids["bob_token"]}
    rows = [
        *(usage_row(**ann, latency_ms=100.0 * (i + 1), cost_micros=1_000_000) for i in range(5)),  # 5 × $1
        usage_row(**ann, requested_model="fast", created_at=NOW - timedelta(hours=3), cost_micros=500_000, key_id=ids["backup"]),
        usage_row(**bob, status="error", http_status=502, error_code="all_upstreams_failed", provider_name=None, key_id=None,
                  cost_micros=None, attempts=[{"provider": "emu", "model": "gpt-4o", "key_id": 1, "outcome": "failed",
                                               "reason": "upstream_5xx", "status": 500, "error": "boom"}]),
        usage_row(**bob, cost_micros=250_000, created_at=NOW - timedelta(days=20)),
        usage_row(created_at=NOW - timedelta(minutes=5)),  # the master key: no user
    ]
    write_rows(engine, rows)
    return engine, ids


def test_presets_pick_hourly_buckets_up_to_seven_days_and_daily_beyond() -> None:
    day = preset_range("24h", NOW)
    assert (day.width, len(day.buckets())) == (HOUR, 24)
    assert day.since < NOW < day.until and day.until - NOW <= timedelta(hours=1)
    assert (preset_range("7d", NOW).width, len(preset_range("7d", NOW).buckets())) == (HOUR, 168)
    month = preset_range("30d", NOW)
    assert (month.width, len(month.buckets())) == (DAY, 30)
    assert month.slug() == "2026-10-16_to_2026-11-14"
    assert day_range(date(2026, 11, 1), date(2026, 11, 3)).width == HOUR
    assert day_range(date(2026, 11, 1), date(2026, 11, 10)).width == DAY
    assert aligned_range(NOW - timedelta(days=2), NOW).since.minute == 0
    with pytest.raises(UsageError):
        aligned_range(NOW, NOW)


def test_kpis_for_admin_and_for_a_user(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, ids = seeded
    window = preset_range("30d", NOW)
    everyone = kpis(engine, UsageFilter(), ADMIN, window)
    assert (everyone.requests, everyone.errors, everyone.cost_micros) == (9, 1, 5_750_100)
    assert everyone.error_rate == pytest.approx(1 / 9)
    assert everyone.median_latency_ms == pytest.approx(200, rel=0.2)
    bob = Viewer(ids["bob"], False)
    own = kpis(engine, UsageFilter(user_id=ids["ann"]), bob, window)  # asking for ann's numbers gets bob's own
    assert (own.requests, own.errors, own.cost_micros) == (2, 1, 250_000)
    assert kpis(engine, UsageFilter(), Viewer(None, False), window).requests == 0


def test_series_stack_by_each_dimension_and_follow_filters(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, ids = seeded
    window = preset_range("24h", NOW)
    by_model = usage_series(engine, UsageFilter(), ADMIN, window, "model")
    assert {s.name: sum(s.requests) for s in by_model.stacks} == {"smart": 7, "fast": 1}
    assert len(by_model.buckets) == 24 and all(len(s.requests) == 24 for s in by_model.stacks)
    by_user = usage_series(engine, UsageFilter(), ADMIN, window, "user")
    assert {s.name: sum(s.requests) for s in by_user.stacks} == {"ann@example.com": 6, "bob@example.com": 1, "master key": 1}
    by_key = usage_series(engine, UsageFilter(model="fast"), ADMIN, window, "key")
    assert [(s.name, sum(s.tokens), sum(s.cost_usd)) for s in by_key.stacks] == [("emu/backup", 15, 0.5)]
    by_token = usage_series(engine, UsageFilter(), Viewer(ids["ann"], False), window, "token")
    assert [s.name for s in by_token.stacks] == ["ann-laptop (…AAAA)"]


def test_series_keep_the_biggest_groups_and_fold_the_rest(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    write_rows(engine, [usage_row(requested_model=f"m{i:02d}") for i in range(MAX_STACKS + 4) for _ in range(i + 1)])
    series = usage_series(engine, UsageFilter(), ADMIN, preset_range("24h", NOW), "model")
    assert len(series.stacks) == MAX_STACKS + 1 and series.stacks[-1].name == OTHER
    assert series.stacks[0].name == f"m{MAX_STACKS + 3:02d}"
    assert sum(sum(s.requests) for s in series.stacks) == sum(range(1, MAX_STACKS + 5))


def test_latency_and_provider_error_rates(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, _ = seeded
    window = preset_range("24h", NOW)
    points = latency_series(engine, UsageFilter(), ADMIN, window)
    current = next(p for p in points if p.bucket.hour == NOW.hour)
    assert current.p50_ms == pytest.approx(250, rel=0.1) and current.p95_ms >= current.p50_ms  # ok rows: 100…500 and 200 ms
    assert all(p.p50_ms is None for p in points if p.bucket.hour not in (NOW.hour, NOW.hour - 3))
    rates = provider_error_rates(engine, UsageFilter(), ADMIN, window)
    assert [(r.provider, r.tried, r.failed) for r in rates] == [("emu", 8, 1)]


def test_breakdown_pages_sorts_and_scopes(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, ids = seeded
    window = preset_range("30d", NOW)
    first = breakdown(engine, UsageFilter(), ADMIN, window, limit=2, offset=0, sort="cost")
    assert first.total == 4
    assert [(r["user"], r["model"], r["requests"], r["cost_usd"]) for r in first.rows] == [
        ("ann@example.com", "smart", 5, 5.0), ("ann@example.com", "fast", 1, 0.5)]
    rest = breakdown(engine, UsageFilter(), ADMIN, window, limit=2, offset=2, sort="cost")
    assert [(r["user"], r["requests"]) for r in rest.rows] == [("bob@example.com", 2), ("master key", 1)]
    by_user = breakdown(engine, UsageFilter(), ADMIN, window, sort="user", descending=False)
    assert by_user.rows[0]["user"] == "master key"
    mine = breakdown(engine, UsageFilter(), Viewer(ids["bob"], False), window)
    assert (mine.total, mine.rows[0]["errors"]) == (1, 1)
    with pytest.raises(UsageError):
        breakdown(engine, UsageFilter(), ADMIN, window, sort="secret")


def test_budgets_show_month_to_date_spend_with_a_projection(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, ids = seeded
    set_user_budget(engine, TEST_ACTOR, ids["bob"], 3_000_000)
    lines = {(line.kind, line.name): line for line in budget_lines(engine, ADMIN, NOW)}
    ann_token = lines[("token", "ann-laptop (…AAAA)")]
    assert (ann_token.spent_micros, ann_token.budget_micros) == (5_500_000, 10_000_000)
    assert ann_token.projected_micros == pytest.approx(5_500_000 * 30 / (13 + 12.5 / 24), rel=1e-6)
    assert lines[("token", "bob-ci (…BBBB)")].spent_micros == 0  # bob's spend was last month (Oct 25)
    assert lines[("user", "bob@example.com")].budget_micros == 3_000_000
    assert lines[("key", "emu/backup")].spent_micros == 500_000
    bobs = budget_lines(engine, Viewer(ids["bob"], False), NOW)
    assert {(line.kind, line.name) for line in bobs} == {("token", "bob-ci (…BBBB)"), ("user", "bob@example.com")}
    set_user_budget(engine, TEST_ACTOR, ids["bob"], None)
    assert all(line.kind != "user" for line in budget_lines(engine, ADMIN, NOW))


def test_filter_options_offer_only_what_the_viewer_may_see(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, ids = seeded
    admin = filter_options(engine, ADMIN)
    assert set(admin.users) == {0, ids["ann"], ids["bob"]} and admin.models == ["fast", "smart"]
    assert admin.providers == ["emu"] and admin.keys[ids["backup"]] == "emu/backup"
    bob = filter_options(engine, Viewer(ids["bob"], False))
    assert bob.users == {ids["bob"]: "bob@example.com"} and bob.tokens == {ids["bob_token"]: "bob-ci (…BBBB)"}
    assert bob.models == ["smart"]


def test_request_log_pages_searches_and_hides_other_peoples_records(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, ids = seeded
    page = page_usage(engine, UsageFilter(), viewer=ADMIN, limit=3)
    assert page.total == 9 and len(page.rows) == 3 and page.rows[0]["user"] == "master key"
    found = page_usage(engine, UsageFilter(search="boom"), viewer=ADMIN)
    assert [r["error_code"] for r in found.rows] == ["all_upstreams_failed"]
    assert page_usage(engine, UsageFilter(search="boom"), viewer=Viewer(ids["ann"], False)).total == 0
    bob_row = found.rows[0]["id"]
    detail = usage_detail(engine, bob_row, viewer=Viewer(ids["bob"], False))
    assert detail is not None and detail["attempts"][0]["error"] == "boom" and detail["token"] == "bob-ci (…BBBB)"
    assert usage_detail(engine, bob_row, viewer=Viewer(ids["ann"], False)) is None
    assert page_usage(engine, UsageFilter(user_id=0), viewer=ADMIN).total == 1
