"""Schema migrations: a database made by release 0.1.0 is upgraded in place with every row kept; an
empty one gets exactly the tables in code; a newer one is refused; ``run.py --migrate`` does it alone.

``tests/data/llmhub-0.1.0.sql`` is a dump of a database that release 0.1.0 (commit 92c37f2) built
through its own services, with rows in every table; its provider keys are encrypted with
``RELEASE_010_SECRET_KEY``, a key made for this fixture only.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from services.db import init_schema, make_engine
from services.errors import SchemaTooNew
from services.hub import Hub, HubOptions
from services.migrations import BASELINE, SCHEMA_VERSION, alembic_config
from tests.conftest import ROOT, child_env

FIXTURE = ROOT / "tests" / "data" / "llmhub-0.1.0.sql"
RELEASE_010_SECRET_KEY = "V9gx7ZFNHv0JXvqXCjXmZLjDI1Qvu-ufs02Wx45j9Zc="
SCRIPT = ScriptDirectory.from_config(alembic_config())
HEAD = SCRIPT.get_current_head()
AFTER_BASELINE = [rev.revision for rev in reversed(list(SCRIPT.iterate_revisions(HEAD, BASELINE)))]
"""The revisions a 0.1.0 database goes through: all but the baseline, which it is stamped with."""
DROPPED = {"keystate": {"consecutive_failures"}}
"""Columns a revision drops on purpose: a key's failure count moved to its deployments (transient state)."""


def release_010_database(folder: Path) -> Path:
    path = folder / "llmhub.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(FIXTURE.read_text())
    return path


def all_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as column → value, in primary-key order."""
    with sqlite3.connect(path) as connection:
        connection.row_factory = sqlite3.Row
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {table: [dict(row) for row in connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid')] for table in tables}


def revision_of(path: Path) -> str | None:
    with sqlite3.connect(path) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def test_the_fixture_has_rows_in_every_table_of_release_010() -> None:
    with sqlite3.connect(":memory:") as connection:
        connection.executescript(FIXTURE.read_text())
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        empty = [table for table in tables if not connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]]
    assert len(tables) == 25
    assert empty == []


def test_a_release_010_database_is_upgraded_in_place_with_every_row_kept(tmp_path: Path) -> None:
    path = release_010_database(tmp_path)
    before = all_rows(path)
    engine = make_engine(path)
    applied = init_schema(engine)
    engine.dispose()
    assert applied == AFTER_BASELINE
    after = all_rows(path)
    assert revision_of(path) == HEAD
    for table, rows in before.items():
        if table == "schemaversion":
            continue
        dropped = DROPPED.get(table, set())
        kept = [{name: row[name] for name in old if name not in dropped} for row, old in zip(after[table], rows, strict=True)]
        assert kept == [{name: v for name, v in row.items() if name not in dropped} for row in rows], f"rows of {table} changed"
    assert after["schemaversion"] == [{"id": 1, "version": SCHEMA_VERSION}]


def test_the_upgraded_database_serves_its_old_catalog(tmp_path: Path) -> None:
    """Keys stored by 0.1.0 still decrypt, and the routing snapshot holds its providers and models."""
    release_010_database(tmp_path)
    hub = Hub(HubOptions(data_dir=tmp_path, secret_key=RELEASE_010_SECRET_KEY))
    try:
        secrets = sorted(key.secret for keys in hub.table.keys_by_provider.values() for key in keys)
        assert secrets == ["none", "sk-ant-fixture-0003", "sk-fixture-backup-0002", "sk-fixture-primary-0001"]
        assert [(r.provider.name, r.upstream_model, r.priority) for r in hub.table.models["smart"]] == [
            ("openai-main", "gpt-4o", 1), ("claude", "claude-sonnet-4-5", 2),
        ]
        assert "fast" not in hub.table.models  # disabled in the fixture, and still disabled
        assert hub.accounts.list_users()[0].email == "admin@example.com"
    finally:
        hub.engine.dispose()


def test_an_empty_database_gets_exactly_the_tables_in_code(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "llmhub.db")
    assert init_schema(engine)[-1] == HEAD
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "llmhub.db")
    init_schema(engine)
    assert init_schema(engine) == []
    engine.dispose()


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE alembic_version SET version_num = '9999'", "revision 9999, which this release of LLM Hub does not know"),
        ("DROP TABLE alembic_version; UPDATE schemaversion SET version = 7", "database schema 7 is newer"),
    ],
)
def test_a_database_from_a_newer_release_is_refused_untouched(tmp_path: Path, statement: str, message: str) -> None:
    engine = make_engine(tmp_path / "llmhub.db")
    init_schema(engine)
    engine.dispose()
    with sqlite3.connect(tmp_path / "llmhub.db") as connection:
        connection.executescript(statement)
    before = all_rows(tmp_path / "llmhub.db")
    with pytest.raises(SchemaTooNew, match=message):
        Hub(HubOptions(data_dir=tmp_path))
    assert all_rows(tmp_path / "llmhub.db") == before


def test_run_py_migrate_upgrades_and_exits(tmp_path: Path) -> None:
    release_010_database(tmp_path)
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--migrate", "--data-dir", str(tmp_path)],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    done = f"migrated through {', '.join(AFTER_BASELINE)}" if AFTER_BASELINE else "already up to date"
    assert done in result.stderr
    assert revision_of(tmp_path / "llmhub.db") == HEAD


def test_run_py_refuses_a_newer_database_with_a_clear_message(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "llmhub.db")
    init_schema(engine)
    engine.dispose()
    with sqlite3.connect(tmp_path / "llmhub.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'ffff'")
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--data-dir", str(tmp_path)],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "llmhub: the database is at schema revision ffff" in result.stderr
