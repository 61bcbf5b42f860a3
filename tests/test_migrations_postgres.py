"""Schema migrations on PostgreSQL, and several instances migrating at once (on both databases).

Release 0.1.0 only ran on SQLite, so the PostgreSQL database "of an older release" is built the way one
would have been: the baseline revision (``0001``, 0.1.0's schema) applied by Alembic, then every row of
``tests/data/llmhub-0.1.0.sql`` copied in (read from SQLite through the column types, written through
PostgreSQL's). The upgrade to head must keep each of them.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, Table, select, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from app.server import apply_startup_config, create_env_admin
from services.db import init_schema, make_engine
from services.errors import SchemaTooNew
from services.hub import Hub, HubOptions
from services.migrations import BASELINE, alembic_config
from services.tables import LogicalModel, Provider, ProviderKey, User
from tests import databases
from tests.conftest import ROOT, child_env
from tests.factories import rows_of
from tests.test_migrations import AFTER_BASELINE, DROPPED, HEAD, RELEASE_010_SECRET_KEY, release_010_database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (skipped without the server; failing under CI=true)."""
    databases.postgres_or_skip()
    with databases.scratch_postgres() as url:
        yield url.render_as_string(hide_password=False)


def tables_of(engine: Engine) -> dict[str, Table]:
    metadata = MetaData()
    metadata.reflect(engine)
    return dict(metadata.tables)


def every_row(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as column → value (times in aware UTC), in primary-key order."""
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as connection:
        for name, table in tables_of(engine).items():
            order = list(table.primary_key.columns) or list(table.columns)
            found[name] = [{key: _utc(value) for key, value in row._mapping.items()}
                           for row in connection.execute(select(table).order_by(*order))]
    return found


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


def release_010_on_postgres(folder: Path, url: str) -> dict[str, list[dict[str, Any]]]:
    """A PostgreSQL database at the baseline revision holding the 0.1.0 fixture's rows; those rows."""
    source = make_engine(release_010_database(folder))
    rows = every_row(source)
    source.dispose()
    target = make_engine(url)
    with target.begin() as connection:
        command.upgrade(alembic_config(connection), BASELINE)
    tables = tables_of(target)
    with target.begin() as connection:
        for table in SQLModel.metadata.sorted_tables:  # parents before children
            if table.name in rows and rows[table.name] and table.name != "alembic_version":
                connection.execute(tables[table.name].insert(), rows[table.name])
        connection.execute(text("SELECT setval(pg_get_serial_sequence(c.table_name, c.column_name), 1000) "
                                "FROM information_schema.columns c WHERE column_default LIKE 'nextval%'"))
    target.dispose()
    return rows


def test_a_baseline_postgres_database_is_upgraded_with_every_row_kept(tmp_path: Path, postgres_url: str) -> None:
    before = release_010_on_postgres(tmp_path, postgres_url)
    assert len(before) == 25 and all(before[table] for table in before)  # rows in every table of release 0.1.0
    engine = make_engine(postgres_url)
    assert init_schema(engine) == AFTER_BASELINE
    after = every_row(engine)
    engine.dispose()
    assert after["alembic_version"] == [{"version_num": HEAD}]
    for table, rows in before.items():
        if table == "schemaversion":
            continue
        dropped = DROPPED.get(table, set())
        kept = [{name: row[name] for name in old if name not in dropped} for row, old in zip(after[table], rows, strict=True)]
        assert kept == [{name: v for name, v in row.items() if name not in dropped} for row in rows], f"rows of {table} changed"


def test_the_upgraded_postgres_database_serves_its_old_catalog(tmp_path: Path, postgres_url: str) -> None:
    release_010_on_postgres(tmp_path, postgres_url)
    hub = Hub(HubOptions(data_dir=tmp_path / "data", database_url=postgres_url, secret_key=RELEASE_010_SECRET_KEY))
    try:
        secrets = sorted(key.secret for keys in hub.table.keys_by_provider.values() for key in keys)
        assert secrets == ["none", "sk-ant-fixture-0003", "sk-fixture-backup-0002", "sk-fixture-primary-0001"]
        routes = [(r.provider.name, r.upstream_model) for r in hub.table.models["smart"]]
        assert routes == [("openai-main", "gpt-4o"), ("claude", "claude-sonnet-4-5")]
        assert hub.accounts.list_users()[0].email == "admin@example.com"
    finally:
        hub.engine.dispose()


def test_an_empty_postgres_database_gets_exactly_the_tables_in_code(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    assert init_schema(engine)[-1] == HEAD
    assert init_schema(engine) == []
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_a_postgres_database_from_a_newer_release_is_refused_untouched(tmp_path: Path, postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    init_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    before = every_row(engine)
    engine.dispose()
    with pytest.raises(SchemaTooNew, match="revision 9999, which this release of LLM Hub does not know"):
        Hub(HubOptions(data_dir=tmp_path, database_url=postgres_url))
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--migrate"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=child_env(LLMHUB_DATA_DIR=str(tmp_path), LLMHUB_DATABASE_URL=postgres_url))
    assert result.returncode == 2 and "llmhub: the database is at schema revision 9999" in result.stderr
    engine = make_engine(postgres_url)
    assert every_row(engine) == before
    engine.dispose()


def test_three_processes_migrating_one_empty_postgres_database_at_once(tmp_path: Path, postgres_url: str) -> None:
    env = child_env(LLMHUB_DATA_DIR=str(tmp_path), LLMHUB_DATABASE_URL=postgres_url)
    processes = [subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--migrate"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    assert sum(f"migrated through {', '.join([BASELINE, *AFTER_BASELINE])}" in out for out in outputs) == 1, outputs
    assert sum("already up to date" in out for out in outputs) == 2, outputs
    assert "postgresql+psycopg://postgres@" in outputs[0]  # the database named, without a password
    engine = make_engine(postgres_url)
    rows = every_row(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert rows["alembic_version"] == [{"version_num": HEAD}] and rows["schemaversion"] == [{"id": 1, "version": 2}]
    assert differences == []


CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: http://127.0.0.1:9/v1
    keys:
      - label: main
        secret: sk-emu-0123456789
      - label: backup
        secret: sk-emu-9876543210
models:
  - name: smart
    routes:
      - provider: emu
        model: gpt-4o
"""


@pytest.mark.parametrize("backend", databases.BACKENDS)
def test_instances_starting_together_migrate_and_apply_the_config_once(tmp_path: Path, backend: str) -> None:
    """Three hubs (threads, each its own engine) start on one empty database with one config file and one
    environment admin at the same moment: each migrates, applies the config and looks for the admin in turn,
    and every one ends serving the same catalog, with one admin."""
    with databases.test_database(backend) as database:
        url = database.url_for(tmp_path)
        config = tmp_path / "llmhub.yaml"
        config.write_text(CONFIG)
        hubs: list[Hub] = []
        failures: list[BaseException] = []
        start = threading.Barrier(3)

        def start_instance(number: int) -> None:
            start.wait()
            try:
                hub = Hub(HubOptions(data_dir=tmp_path / f"instance{number}", database_url=url, secret_key=RELEASE_010_SECRET_KEY))
                hubs.append(hub)
                apply_startup_config(hub, config)
                create_env_admin(hub, "admin@example.com", "a long enough password")
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=start_instance, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        try:
            assert failures == []
            assert [p.name for p in rows_of(hubs[0], Provider)] == ["emu"]
            assert sorted(k.label for k in rows_of(hubs[0], ProviderKey)) == ["backup", "main"]
            assert [m.name for m in rows_of(hubs[0], LogicalModel)] == ["smart"]
            assert [(u.email, u.role) for u in rows_of(hubs[0], User)] == [("admin@example.com", "admin")]
            assert all([r.upstream_model for r in hub.table.models["smart"]] == ["gpt-4o"] for hub in hubs)
        finally:
            for hub in hubs:
                hub.engine.dispose()
