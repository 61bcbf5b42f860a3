"""Alembic's environment for LLM Hub: migrations always run on a connection the hub opened
(``services.migrations.migrate``), never from a URL in a file, so there is no ``alembic.ini``."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import services.db  # noqa: F401  (registers every table on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite alters a table by copying it: batch mode does that
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
