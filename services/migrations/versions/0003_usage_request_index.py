"""Index usage records by request id: the Logs page opens a request from its id (``/logs?request=…``).

An index only: no row changes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 18:31:59.163355
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_usage_request", "usagerecord", ["request_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_usage_request", table_name="usagerecord")
