"""stored Responses API answers

``POST /v1/responses`` keeps its answers (unless ``store: false``) for ``previous_response_id`` and
``GET``/``DELETE /v1/responses/{id}``: a new table, no existing rows touched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 21:02:06.132596
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storedresponse",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("storedresponse", schema=None) as batch_op:
        batch_op.create_index("ix_storedresponse_created", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_storedresponse_response_id"), ["response_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("storedresponse", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storedresponse_response_id"))
        batch_op.drop_index("ix_storedresponse_created")
    op.drop_table("storedresponse")
