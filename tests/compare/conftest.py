"""Every test here runs on SQLite and on PostgreSQL (``database_backend`` in ``tests/conftest.py``)."""

from tests.databases import on_each_database  # noqa: F401  (autouse: the suite runs on both databases)
