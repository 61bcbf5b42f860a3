"""the response cache

``cacheentry``: the response cache's answers (``services.cache``). ``logicalmodel.cache``: a model's
cache settings (null: no cache). ``usagerecord.cache_hit`` and ``cost_saved_micros``: a call answered
from the cache, and what it saved; existing records were not (false, null).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cacheentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("endpoint", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("form", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.Integer(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("context_key", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_cacheentry_key", "cacheentry", ["key"], unique=True)
    op.create_index("ix_cacheentry_token_id", "cacheentry", ["token_id"], unique=False)
    op.create_index("ix_cacheentry_expires_at", "cacheentry", ["expires_at"], unique=False)
    op.create_index("ix_cacheentry_context_key", "cacheentry", ["context_key"], unique=False)
    op.create_index("ix_cacheentry_model_created", "cacheentry", ["model", "created_at"], unique=False)
    # plain ADD COLUMNs: a batch would rebuild the tables, which SQLite refuses while routes point at a model
    op.add_column("logicalmodel", sa.Column("cache", sa.JSON(), nullable=True))
    op.add_column("usagerecord", sa.Column("cache_hit", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("usagerecord", sa.Column("cost_saved_micros", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usagerecord", schema=None) as batch_op:
        batch_op.drop_column("cost_saved_micros")
        batch_op.drop_column("cache_hit")
    with op.batch_alter_table("logicalmodel", schema=None) as batch_op:
        batch_op.drop_column("cache")
    op.drop_table("cacheentry")
