"""Exports: streamed in batches, exactly the filtered rows, scoped to the viewer, no secrets."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from services import exports
from services.analytics import breakdown, preset_range
from services.exports import AGGREGATE_COLUMNS, RECORD_COLUMNS, count_records, export_stream, filename, route_summary
from services.usage_query import ADMIN, UsageFilter, Viewer
from tests.usage_data import NOW, add_people, fresh_engine, usage_row, write_rows

SECRET = "sk-live-0123456789abcdefSECRET"
FAILOVER = [
    {"provider": "flaky", "model": "gpt-4o", "key_id": 3, "key_label": "limited", "outcome": "failed", "reason": "auth", "status": 401,
     "error": f"Incorrect API key provided: {SECRET}", "ms": 3.0},
    {"provider": "emu", "model": "gpt-4o", "key_id": 1, "key_label": "primary", "outcome": "served", "ms": 90.0},
]


@pytest.fixture
def seeded(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = fresh_engine(tmp_path)
    ids = add_people(engine)
    rows = [usage_row(user_id=ids["ann"], token_id=ids["ann_token"], created_at=NOW - timedelta(minutes=i), attempts=FAILOVER) for i in range(23)]
    rows += [usage_row(user_id=ids["bob"], token_id=ids["bob_token"], requested_model="fast", created_at=NOW - timedelta(hours=2, minutes=i))
             for i in range(7)]
    rows.append(usage_row(created_at=NOW - timedelta(days=3)))  # outside the 24 h window
    write_rows(engine, rows)
    return engine, ids


def _csv(chunks: list[bytes]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))


def test_records_csv_streams_in_batches_and_holds_the_filtered_rows(seeded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    engine, ids = seeded
    monkeypatch.setattr(exports, "BATCH", 10)
    window = preset_range("24h", NOW)
    done: list[int] = []
    stream = export_stream(engine, "records", "csv", UsageFilter(), ADMIN, window, progress=done.append)
    first = next(stream)
    assert first.decode().splitlines()[0] == ",".join(RECORD_COLUMNS)
    assert len(first.decode().splitlines()) == 11  # the header and one batch: nothing more was read yet
    rows = _csv([first, *stream])
    assert len(rows) == 30 and done == [10, 20, 30]
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)
    fast = _csv(list(export_stream(engine, "records", "csv", UsageFilter(model="fast"), ADMIN, window)))
    assert {r["user"] for r in fast} == {"bob@example.com"} and len(fast) == 7
    assert count_records(engine, UsageFilter(model="fast"), ADMIN, window) == 7


def test_exports_never_hold_secrets_or_provider_error_texts(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, _ = seeded
    window = preset_range("90d", NOW)
    for fmt in ("csv", "json"):
        text = b"".join(export_stream(engine, "records", fmt, UsageFilter(), ADMIN, window)).decode()
        assert SECRET not in text and "Incorrect API key" not in text
        assert "secret_enc" not in text and "token_hash" not in text and "a" * 64 not in text
    assert route_summary(FAILOVER) == "flaky/gpt-4o [limited]: failed (auth, 401) > emu/gpt-4o [primary]: served"


def test_json_records_and_a_users_export_holds_only_their_rows(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, ids = seeded
    window = preset_range("24h", NOW)
    rows = json.loads(b"".join(export_stream(engine, "records", "json", UsageFilter(user_id=ids["ann"]), Viewer(ids["bob"], False), window)))
    assert len(rows) == 7 and {r["user_id"] for r in rows} == {ids["bob"]}
    assert list(rows[0]) == list(RECORD_COLUMNS)
    assert rows[0]["cost_usd"] == "0.0001" and rows[0]["total_tokens"] == 15
    assert json.loads(b"".join(export_stream(engine, "records", "json", UsageFilter(model="none"), ADMIN, window))) == []


def test_aggregate_export_matches_the_breakdown_table(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, _ = seeded
    window = preset_range("30d", NOW)
    exported = _csv(list(export_stream(engine, "aggregate", "csv", UsageFilter(), ADMIN, window)))
    table = breakdown(engine, UsageFilter(), ADMIN, window, limit=100).rows
    assert [tuple(r[c] for c in ("user", "model", "requests")) for r in exported] == [(r["user"], r["model"], str(r["requests"])) for r in table]
    assert list(exported[0]) == list(AGGREGATE_COLUMNS)
    as_json = json.loads(b"".join(export_stream(engine, "aggregate", "json", UsageFilter(), ADMIN, window)))
    assert sum(r["requests"] for r in as_json) == 31


def test_file_names_say_the_range() -> None:
    assert filename("records", "csv", preset_range("30d", NOW)) == "llmhub-usage-records_2026-10-16_to_2026-11-14.csv"
    assert filename("aggregate", "json", preset_range("24h", NOW)) == "llmhub-usage-aggregate_2026-11-13T13h_to_2026-11-14T12h_UTC.json"
    with pytest.raises(ValueError):
        export_stream(None, "everything", "csv", UsageFilter(), ADMIN, preset_range("24h", NOW))  # type: ignore[arg-type]
