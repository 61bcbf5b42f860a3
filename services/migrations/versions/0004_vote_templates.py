"""votes record their template and may come from the master key

A vote remembers the prompt template its judged prompt was made from (the leaderboard's per-template
views); a vote posted with the master key belongs to no user, so ``user_id`` may be null. Existing
votes keep their rows, with no template.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 18:52:08.654640
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blindvote", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.alter_column("user_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_index(batch_op.f("ix_blindvote_template"), ["template"], unique=False)


def downgrade() -> None:
    op.execute("UPDATE blindvote SET user_id = 0 WHERE user_id IS NULL")  # the master key's votes: user 0, as usage rollups say
    with op.batch_alter_table("blindvote", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blindvote_template"))
        batch_op.alter_column("user_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("template")
