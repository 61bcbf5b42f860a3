"""Exports: streamed in batches, exactly the filtered rows, scoped to the viewer, no secrets."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from services.errors import UsageError
from services.usage import exports
from services.usage.analytics import breakdown, preset_range
from services.usage.exports import (
    AGGREGATE_COLUMNS,
    BODY_COLUMNS,
    RECORD_COLUMNS,
    count_records,
    export_stream,
    filename,
    route_summary,
)
from services.usage.queries import ADMIN, UsageFilter, Viewer
from tests.factories import NOW, add_people, fresh_engine, usage_row, write_rows

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
    ann = {"user_id": ids["ann"], "token_id": ids["ann_token"]}
    bob = {"user_id": ids["bob"], "token_id": ids["bob_token"]}
    rows = [usage_row(**ann, created_at=NOW - timedelta(minutes=i), attempts=FAILOVER) for i in range(23)]
    rows += [usage_row(**bob, requested_model="fast", created_at=NOW - timedelta(hours=2, minutes=i)) for i in range(7)]
    rows.append(usage_row(created_at=NOW - timedelta(days=3)))  # outside the 24 h window
    write_rows(engine, rows)
    return engine, ids


def _csv(chunks: list[bytes]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))


def test_records_csv_streams_in_batches_and_holds_the_filtered_rows(seeded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    engine, _ = seeded
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
    as_bob = Viewer(ids["bob"], False)
    rows = json.loads(b"".join(export_stream(engine, "records", "json", UsageFilter(user_id=ids["ann"]), as_bob, window)))
    assert len(rows) == 7 and {r["user_id"] for r in rows} == {ids["bob"]}
    assert list(rows[0]) == list(RECORD_COLUMNS)
    assert rows[0]["cost_usd"] == "0.0001" and rows[0]["total_tokens"] == 15
    assert json.loads(b"".join(export_stream(engine, "records", "json", UsageFilter(model="none"), ADMIN, window))) == []


def test_aggregate_export_matches_the_breakdown_table(seeded) -> None:  # type: ignore[no-untyped-def]
    engine, _ = seeded
    window = preset_range("30d", NOW)
    exported = _csv(list(export_stream(engine, "aggregate", "csv", UsageFilter(), ADMIN, window)))
    table = breakdown(engine, UsageFilter(), ADMIN, window, limit=100).rows
    assert [(r["user"], r["model"], r["requests"]) for r in exported] == [(r["user"], r["model"], str(r["requests"])) for r in table]
    assert list(exported[0]) == list(AGGREGATE_COLUMNS)
    as_json = json.loads(b"".join(export_stream(engine, "aggregate", "json", UsageFilter(), ADMIN, window)))
    assert sum(r["requests"] for r in as_json) == 31


def test_file_names_say_the_range() -> None:
    assert filename("records", "csv", preset_range("30d", NOW)) == "llmhub-usage-records_2026-10-16_to_2026-11-14.csv"
    assert filename("aggregate", "json", preset_range("24h", NOW)) == "llmhub-usage-aggregate_2026-11-13T13h_to_2026-11-14T12h_UTC.json"
    with pytest.raises(UsageError):
        export_stream(None, "everything", "csv", UsageFilter(), ADMIN, preset_range("24h", NOW))  # type: ignore[arg-type]


# -- logged bodies (opt-in) -------------------------------------------------------------------------

LEAKED = "sk-proj-abcdefghijklmnop1234"


def _bodies(text: str) -> dict[str, object]:
    return {"request_body": {"model": "smart", "messages": [{"role": "user", "content": text}]},
            "response_body": {"choices": [{"message": {"role": "assistant", "content": f"Echo: {text}"}}]}}


@pytest.fixture
def logged(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Ann's calls 0-5 and 8 carry logged bodies (call 8 one stored before redaction existed), 6-7 none; Bob's 3 calls all do."""
    engine = fresh_engine(tmp_path)
    ids = add_people(engine)
    rows = [usage_row(user_id=ids["ann"], created_at=NOW - timedelta(minutes=30 - i), **({} if i in (6, 7) else _bodies(f"ann says {i}")))
            for i in range(8)]
    rows.append(usage_row(user_id=ids["ann"], created_at=NOW - timedelta(minutes=20), **_bodies(f"my key is {LEAKED}")))
    rows += [usage_row(user_id=ids["bob"], created_at=NOW - timedelta(minutes=10 - i), **_bodies(f"bob says {i}")) for i in range(3)]
    write_rows(engine, rows)
    return engine, ids


def _said(body: dict | None) -> str | None:
    return None if body is None else body["messages"][0]["content"]  # type: ignore[index]


def test_json_records_with_bodies_carry_each_rows_own_bodies_redacted(logged) -> None:  # type: ignore[no-untyped-def]
    engine, _ = logged
    window = preset_range("24h", NOW)
    rows = json.loads(b"".join(export_stream(engine, "records", "json", UsageFilter(), ADMIN, window, with_bodies=True)))
    assert list(rows[0]) == [*RECORD_COLUMNS, *BODY_COLUMNS]
    said = [_said(r["request_body"]) for r in rows]
    assert said == [*(f"ann says {i}" for i in range(6)), None, None, "my key is [redacted]", *(f"bob says {i}" for i in range(3))]
    assert rows[2]["response_body"] == {"choices": [{"message": {"role": "assistant", "content": "Echo: ann says 2"}}]}
    assert rows[6]["response_body"] is None and rows[7]["response_body"] is None
    assert LEAKED not in json.dumps(rows)
    plain = json.loads(b"".join(export_stream(engine, "records", "json", UsageFilter(), ADMIN, window)))
    assert list(plain[0]) == list(RECORD_COLUMNS) and [r["request_id"] for r in plain] == [r["request_id"] for r in rows]


def test_csv_records_with_bodies_hold_compact_json_text_or_nothing(logged) -> None:  # type: ignore[no-untyped-def]
    engine, ids = logged
    window = preset_range("24h", NOW)
    chunks = list(export_stream(engine, "records", "csv", UsageFilter(user_id=ids["ann"]), ADMIN, window, with_bodies=True))
    rows = _csv(chunks)
    assert list(rows[0]) == [*RECORD_COLUMNS, *BODY_COLUMNS] and len(rows) == 9
    assert rows[0]["request_body"] == '{"model":"smart","messages":[{"role":"user","content":"ann says 0"}]}'
    assert json.loads(rows[5]["response_body"])["choices"][0]["message"]["content"] == "Echo: ann says 5"
    assert (rows[6]["request_body"], rows[6]["response_body"], rows[7]["request_body"]) == ("", "", "")
    assert _said(json.loads(rows[8]["request_body"])) == "my key is [redacted]" and LEAKED not in b"".join(chunks).decode()


def test_a_users_export_with_bodies_holds_only_their_own_bodies(logged) -> None:  # type: ignore[no-untyped-def]
    engine, ids = logged
    for fmt in ("csv", "json"):
        text = b"".join(export_stream(engine, "records", fmt, UsageFilter(user_id=ids["ann"]), Viewer(ids["bob"], False),
                                      preset_range("24h", NOW), with_bodies=True)).decode()
        assert "bob says 2" in text and "Echo: bob says 0" in text
        assert "ann says" not in text and "my key is" not in text
    rows = json.loads(b"".join(export_stream(engine, "records", "json", UsageFilter(), Viewer(ids["bob"], False), preset_range("24h", NOW),
                                             with_bodies=True)))
    assert [_said(r["request_body"]) for r in rows] == [f"bob says {i}" for i in range(3)]


def test_bodies_are_fetched_per_batch_and_never_without_the_option(logged, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    engine, _ = logged
    monkeypatch.setattr(exports, "BODY_BATCH", 5)
    window = preset_range("24h", NOW)
    body_queries: list[str] = []

    def note(conn, cursor, statement: str, *args) -> None:  # type: ignore[no-untyped-def]
        if "FROM usagebody" in statement:
            body_queries.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    stream = export_stream(engine, "records", "json", UsageFilter(), ADMIN, window, with_bodies=True)
    first = b"".join([next(stream), next(stream)])  # the opening bracket and the first batch: nothing more was read yet
    assert first.count(b'"request_id"') == 5 and len(body_queries) == 1 and " IN " in body_queries[0]
    rows = json.loads(first + b"".join(stream))
    assert len(rows) == 12 and len(body_queries) == 3  # batches of 5, 5 and 2
    body_queries.clear()
    for fmt in ("csv", "json"):
        assert b"".join(export_stream(engine, "records", fmt, UsageFilter(), ADMIN, window))
    assert body_queries == []


def test_only_the_records_export_takes_bodies(logged) -> None:  # type: ignore[no-untyped-def]
    engine, _ = logged
    with pytest.raises(UsageError, match="only the records export"):
        export_stream(engine, "aggregate", "json", UsageFilter(), ADMIN, preset_range("24h", NOW), with_bodies=True)


def test_console_calls_read_as_the_console_and_small_costs_as_plain_decimals(tmp_path: Path) -> None:
    """A console call names its person and reads "console" as its token (never "master key"); the table export
    writes a cost of 69 micro-dollars as 0.000069, as the records export does."""
    engine = fresh_engine(tmp_path)
    ids = add_people(engine)
    write_rows(engine, [
        usage_row(user_id=ids["ann"], source="console", cost_micros=69),
        usage_row(source="api", cost_micros=69),  # the master key: no person, no token
    ])
    window = preset_range("24h", NOW)
    records = {r["source"]: r for r in _csv(list(export_stream(engine, "records", "csv", UsageFilter(), ADMIN, window)))}
    assert (records["console"]["user"], records["console"]["token"]) == ("ann@example.com", "console")
    assert (records["api"]["user"], records["api"]["token"]) == ("master key", "master key")
    assert records["console"]["cost_usd"] == "0.000069"
    table = _csv(list(export_stream(engine, "aggregate", "csv", UsageFilter(), ADMIN, window)))
    assert sorted(r["cost_usd"] for r in table) == ["0.000069", "0.000069"]
    assert "e-" not in b"".join(export_stream(engine, "aggregate", "json", UsageFilter(), ADMIN, window)).decode()
