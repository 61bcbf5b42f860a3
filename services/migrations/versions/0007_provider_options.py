"""providers take kind-specific options

``options`` on a provider: the settings a cloud kind needs beside its endpoint (``azure``:
``api_version``, ``token_url``; ``bedrock``: ``region``; ``vertex``: ``project``, ``location``,
``token_url``). Existing providers have none (null).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 21:39:36
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN: a batch would rebuild the table, which SQLite refuses while keys and routes point at it
    op.add_column("provider", sa.Column("options", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.drop_column("options")
