"""Rollups: kept by the recorder in the raw insert's transaction, additive, rebuilt on demand, and
what the charts read — so pruning raw rows leaves every chart number as it was."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from services.tables import (
    ATTEMPT_ROLLUP_HOUR,
    USAGE_ROLLUP_DAY,
    USAGE_ROLLUP_HOUR,
    AppSetting,
    StoredResponse,
    UsageRecord,
)
from services.usage import recorder as usage
from services.usage import rollups
from services.usage.analytics import (
    breakdown,
    kpis,
    latency_series,
    preset_range,
    provider_error_rates,
    usage_series,
)
from services.usage.queries import ADMIN, UsageFilter
from services.usage.recorder import UsageRecorder
from services.usage.retention import prune_raw_usage
from services.usage.rollups import HOUR, ensure_rollups, latency_bucket, percentile
from tests.factories import NOW, add_people, fresh_engine, usage_row, write_rows


def _totals(engine, table):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.execute(select(func.sum(table.c.requests), func.sum(table.c.prompt_tokens), func.sum(table.c.cost_micros),
                                      func.sum(table.c.cost_unknown), func.sum(table.c.errors))).one()


def test_histogram_percentiles_are_close_to_exact() -> None:
    rng = random.Random(7)
    samples = [rng.lognormvariate(6, 0.8) for _ in range(20_000)]  # median ~400 ms, long tail
    histogram = [0] * len(rollups.LATENCY_COLUMNS)
    for ms in samples:
        histogram[latency_bucket(ms)] += 1
    ordered = sorted(samples)
    for q in (0.5, 0.95):
        exact = ordered[int(q * len(ordered))]
        assert percentile(histogram, q) == pytest.approx(exact, rel=0.06)
    assert percentile([0] * len(histogram), 0.5) is None


def test_latency_buckets_cover_every_value() -> None:
    assert latency_bucket(0) == 0 and latency_bucket(0.99) == 0
    assert latency_bucket(1) == 1 and latency_bucket(1.41) == 1 and latency_bucket(1.42) == 2
    assert latency_bucket(10**9) == len(rollups.LATENCY_COLUMNS) - 1


def test_recorder_keeps_hourly_and_daily_rollups_with_the_raw_rows(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    rows = [
        usage_row(),
        usage_row(created_at=NOW + timedelta(hours=1), ttft_ms=50.0, stream=True),
        usage_row(cost_micros=None),  # served, price unknown
        usage_row(status="error", http_status=502, error_code="all_upstreams_failed", provider_name=None, provider_id=None,
                  key_id=None, cost_micros=None, prompt_tokens=0, completion_tokens=0, attempts=[]),
    ]
    write_rows(engine, rows)
    write_rows(engine, [usage_row()])  # a second batch adds to the same rollup rows
    for table in (USAGE_ROLLUP_HOUR, USAGE_ROLLUP_DAY):
        requests, prompt, cost, unknown, errors = _totals(engine, table)
        assert (requests, prompt, cost, unknown, errors) == (5, 40, 300, 1, 1)
    with Session(engine) as session:
        hours = session.execute(select(USAGE_ROLLUP_HOUR.c.bucket).distinct()).scalars().all()
        assert sorted(hours) == [int(NOW.timestamp()) // HOUR * HOUR, int(NOW.timestamp()) // HOUR * HOUR + HOUR]
        day_keys = session.execute(select(func.count()).select_from(USAGE_ROLLUP_DAY)).scalar_one()
        assert day_keys == 2  # one "ok" and one "error" key for the day
        ttft = session.execute(select(func.sum(USAGE_ROLLUP_HOUR.c.ttft_count), func.sum(USAGE_ROLLUP_HOUR.c.ttft_ms_sum))).one()
        assert tuple(ttft) == (1, 50.0)


def test_rows_written_through_the_driver_read_back_as_the_orm_wrote_them(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    full = usage_row(stream=True, ttft_ms=12.5)
    sparse = {key: value for key, value in usage_row().items() if key not in ("source", "endpoint", "status", "http_status", "stream",
                                                                              "attempts", "ttft_ms", "cost_micros")}
    write_rows(engine, [full, sparse])
    with Session(engine) as session:
        first, second = session.exec(select(UsageRecord).order_by(UsageRecord.id)).scalars().all()
    assert first.created_at == NOW and first.created_at.tzinfo is not None
    assert first.stream is True and first.ttft_ms == 12.5 and first.attempts == full["attempts"]
    assert (second.source, second.endpoint, second.status, second.http_status, second.stream) == ("api", "chat", "ok", 200, False)
    assert second.attempts is None and second.cost_micros is None and second.request_id == sparse["request_id"]


def test_a_failed_rollup_write_leaves_no_raw_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = fresh_engine(tmp_path)

    def broken(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(usage, "apply_rollups", broken)
    recorder = UsageRecorder(engine)
    recorder.record(usage_row())
    with pytest.raises(RuntimeError):
        asyncio.run(recorder.flush())
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(UsageRecord)).scalar_one() == 0
    monkeypatch.undo()
    asyncio.run(recorder.flush())  # the batch was kept and goes in on the retry
    assert _totals(engine, USAGE_ROLLUP_HOUR)[0] == 1


def test_attempt_rollups_count_failovers_per_provider_and_key(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    trail = [
        {"provider": "flaky", "model": "gpt-4o", "key_id": 7, "outcome": "skipped", "reason": "cooling"},
        {"provider": "flaky", "model": "gpt-4o", "key_id": 8, "outcome": "failed", "reason": "rate_limited", "status": 429, "ms": 5.0},
        {"provider": "emu", "model": "gpt-4o", "key_id": 1, "outcome": "served", "ms": 100.0},
        {"provider": "-", "model": "smart", "key_id": None, "outcome": "waiting"},
    ]
    write_rows(engine, [usage_row(attempts=trail), usage_row(status="error", error_code="stream_broken")])
    with Session(engine) as session:
        rows = {(r.provider, r.key_id): r for r in session.execute(select(ATTEMPT_ROLLUP_HOUR))}
    assert (rows[("flaky", 7)].skipped, rows[("flaky", 7)].tried) == (1, 0)
    assert (rows[("flaky", 8)].tried, rows[("flaky", 8)].failed, rows[("flaky", 8)].rate_limited) == (1, 1, 1)
    assert (rows[("emu", 1)].tried, rows[("emu", 1)].failed) == (2, 1)  # the broken stream counts against its key
    assert ("-", 0) not in rows


def test_ensure_rollups_rebuilds_once_from_raw_rows(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    write_rows(engine, [usage_row(), usage_row(created_at=NOW - timedelta(days=3))])
    before = _totals(engine, USAGE_ROLLUP_DAY)
    with Session(engine) as session:  # an older database: raw rows, no rollups, no marker
        session.execute(USAGE_ROLLUP_DAY.delete())
        session.execute(USAGE_ROLLUP_HOUR.delete())
        session.commit()
    assert ensure_rollups(engine) == 2
    assert _totals(engine, USAGE_ROLLUP_DAY) == before
    assert ensure_rollups(engine) == 0  # marked current: nothing replayed, nothing doubled
    assert _totals(engine, USAGE_ROLLUP_DAY) == before
    with Session(engine) as session:
        assert session.get(AppSetting, rollups.ROLLUP_SETTING) is not None


def test_pruning_raw_rows_leaves_every_chart_unchanged(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    ids = add_people(engine)
    rng = random.Random(3)
    rows = [
        usage_row(created_at=NOW - timedelta(days=rng.randint(0, 80), hours=rng.randint(0, 23)),
                  user_id=rng.choice([ids["ann"], ids["bob"]]), requested_model=rng.choice(["smart", "fast"]),
                  latency_ms=rng.uniform(50, 3000), prompt_tokens=rng.randint(1, 500),
                  status=rng.choice(["ok", "ok", "ok", "error"]), ttft_ms=rng.choice([None, 40.0]))
        for _ in range(400)
    ]
    write_rows(engine, rows)

    def charts(window):  # type: ignore[no-untyped-def]
        everything = UsageFilter()
        return (kpis(engine, everything, ADMIN, window), usage_series(engine, everything, ADMIN, window, "user"),
                latency_series(engine, everything, ADMIN, window), provider_error_rates(engine, everything, ADMIN, window),
                breakdown(engine, everything, ADMIN, window, limit=100))

    windows = [preset_range("90d", NOW), preset_range("7d", NOW)]
    before = [charts(w) for w in windows]
    removed = prune_raw_usage(engine, NOW + timedelta(days=400), days=31, batch=37)
    assert removed == 400
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(UsageRecord)).scalar_one() == 0
    assert [charts(w) for w in windows] == before
    assert before[0][0].requests == 400


def test_pruning_keeps_records_inside_the_retention_period(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    write_rows(engine, [usage_row(created_at=NOW - timedelta(days=d)) for d in (1, 40, 95, 120)])
    assert prune_raw_usage(engine, NOW) == 2  # default 90 days
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(UsageRecord)).scalar_one() == 2


def test_stored_responses_go_with_the_raw_records(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    with Session(engine) as session:
        session.add_all([StoredResponse(response_id=f"resp_{d}", created_at=NOW - timedelta(days=d), response={"id": f"resp_{d}"})
                         for d in (1, 95)])
        session.commit()
    prune_raw_usage(engine, NOW)
    with Session(engine) as session:
        assert [row.response_id for row in session.exec(select(StoredResponse)).scalars()] == ["resp_1"]
