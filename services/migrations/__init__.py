"""Schema migrations with Alembic: every start brings the database to this release's schema.

Revisions live in ``versions/`` (``0001`` is the schema of release 0.1.0, which created its tables
without Alembic). ``migrate`` handles the three databases it can meet:

* empty: every revision runs, which creates the tables;
* made by release 0.1.0 (tables and a ``schemaversion`` row, no ``alembic_version``): stamped as
  ``0001``, then upgraded in place, rows kept;
* made by Alembic: upgraded from its revision; a revision this code does not know was written by a
  newer release, and the database is refused (``SchemaTooNew``) rather than touched.

The ``schemaversion`` row is set to ``SCHEMA_VERSION`` (2: "managed by Alembic") so that release
0.1.0, which refuses a version above its own, does not start on a migrated database.

A new revision: change ``services/tables.py`` (or a domain's tables), then
``python -m services.migrations revision "what changed"`` writes it from the difference; read it,
and make it keep every row (tests/test_migrations.py upgrades a 0.1.0 database and checks them).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from services.errors import SchemaTooNew

HERE = Path(__file__).resolve().parent
BASELINE = "0001"
SCHEMA_VERSION = 2
"""What the ``schemaversion`` row says once Alembic manages the schema (release 0.1.0 wrote 1)."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> list[str]:
    """Bring the database to the newest revision; the revisions applied, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    with engine.begin() as connection:
        current = _current_revision(connection, script)
        config = alembic_config(connection)
        if current is None and _is_release_010(connection):
            command.stamp(config, BASELINE)
            current = BASELINE
        pending = [rev.revision for rev in script.iterate_revisions("heads", current or "base")]
        command.upgrade(config, "head")
        _mark_managed(connection)
    return list(reversed(pending))


def _current_revision(connection: Connection, script: ScriptDirectory) -> str | None:
    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise SchemaTooNew(
            f"the database is at schema revision {current}, which this release of LLM Hub does not know: "
            "it was written by a newer release. Start that release, or restore a backup made for this one."
        )
    return current


def _is_release_010(connection: Connection) -> bool:
    """Tables made by release 0.1.0 (``create_all`` and a ``schemaversion`` row, no Alembic)."""
    if not inspect(connection).has_table("schemaversion"):
        return False
    version = connection.execute(text("SELECT version FROM schemaversion WHERE id = 1")).scalar()
    if version is not None and version > 1:
        raise SchemaTooNew(f"database schema {version} is newer than this build, and it has no Alembic revision")
    return True


def _mark_managed(connection: Connection) -> None:
    updated = connection.execute(text("UPDATE schemaversion SET version = :v WHERE id = 1"), {"v": SCHEMA_VERSION})
    if not updated.rowcount:
        connection.execute(text("INSERT INTO schemaversion (id, version) VALUES (1, :v)"), {"v": SCHEMA_VERSION})
