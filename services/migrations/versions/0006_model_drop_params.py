"""logical models may drop unsupported parameters

``drop_params`` on a logical model: parameters a route cannot honour (``n`` > 1, ``logprobs``,
non-function tools) are dropped instead of refused with 400 ``unsupported_parameter``. Existing
models keep refusing (false).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 21:14:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN: a batch would rebuild the table, which SQLite refuses while routes point at it
    op.add_column("logicalmodel", sa.Column("drop_params", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("logicalmodel", schema=None) as batch_op:
        batch_op.drop_column("drop_params")
