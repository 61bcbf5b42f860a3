"""The whole hub on PostgreSQL: ``python run.py`` with ``LLMHUB_DATABASE_URL`` on a scratch database, a chat call
through ``/v1`` (the official SDK) against the emulator, its usage row in the database and in an export."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from services.tables import Provider, UsageRecord
from tests import databases
from tests.conftest import RunningApp
from tests.factories import hub_process, open_database, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: primary
        secret: ok#postgres-hub-1
models:
  - name: smart
    routes:
      - provider: emu
        model: gpt-4o
"""


@pytest.fixture
def app_on_postgres(tmp_path: Path, emulator: EmulatorHandle) -> Iterator[RunningApp]:
    with databases.test_database(databases.POSTGRESQL), hub_process(tmp_path, CONFIG, emulator) as app:
        yield app


def test_a_chat_call_lands_a_usage_row_in_postgres_and_in_the_export(app_on_postgres: RunningApp) -> None:
    answer = app_on_postgres.sdk().chat.completions.with_raw_response.create(model="smart", messages=[{"role": "user", "content": "hi"}])
    request_id = answer.headers["x-llmhub-request-id"]
    assert answer.parse().choices[0].message.content
    [row] = wait_for_usage(app_on_postgres, request_id=request_id)
    assert (row["provider_name"], row["status"]) == ("emu", "ok")
    engine = open_database(app_on_postgres.data_dir)
    assert engine.dialect.name == "postgresql" and not (app_on_postgres.data_dir / "llmhub.db").exists()
    with Session(engine) as session:
        stored = session.exec(select(UsageRecord).where(UsageRecord.request_id == request_id)).one()
        assert [p.name for p in session.exec(select(Provider))] == ["emu"]  # the config applied into PostgreSQL
    engine.dispose()
    assert stored.prompt_tokens > 0 and stored.attempts and stored.attempts[0]["outcome"] == "served"
    with app_on_postgres.client() as admin:
        export = admin.get("/api/usage/export", params={"format": "csv", "kind": "records", "range": "24h"})
    assert export.status_code == 200 and request_id in export.text and "emu" in export.text
    assert "Data: postgresql+psycopg://postgres@127.0.0.1" in app_on_postgres.log()
