"""per-deployment state, route settings, model aliases and settings

Routes become deployments: the same provider and upstream model may appear twice on a model (split by
keys or tags), so the (model, provider, upstream model) uniqueness goes. Key-level failure counts move
to the new per-deployment state (they are transient: nothing to carry over).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 18:11:13.996600
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "modelalias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["logicalmodel.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("modelalias", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_modelalias_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_modelalias_name"), ["name"], unique=True)

    op.create_table(
        "deploymentstate",
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("cooldown_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("resting_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("last_error_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["providerkey.id"],
        ),
        sa.PrimaryKeyConstraint("key_id", "model"),
    )
    op.create_table(
        "routestate",
        sa.Column("route_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("day", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("day_tokens", sa.Integer(), nullable=False),
        sa.Column("month", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("month_cost_micros", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["providerkey.id"],
        ),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["modelroute.id"],
        ),
        sa.PrimaryKeyConstraint("route_id", "key_id"),
    )
    with op.batch_alter_table("keystate", schema=None) as batch_op:
        batch_op.drop_column("consecutive_failures")

    with op.batch_alter_table("logicalmodel", schema=None) as batch_op:
        batch_op.add_column(sa.Column("num_retries", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("timeout_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("stream_timeout_seconds", sa.Float(), nullable=True))

    _drop_route_uniqueness()
    with op.batch_alter_table("modelroute", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keys", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("rpm", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tpm", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("daily_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("monthly_usd_micros", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("price", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("headers_enc", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("context_fallback", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("context_window", sa.Integer(), nullable=True))


ROUTE_UNIQUE_COLUMNS = ["model_id", "provider_id", "upstream_model"]


def _drop_route_uniqueness() -> None:
    """The constraint has no name of its own: SQLite's is found through a naming convention while the
    table is copied, PostgreSQL's has the name PostgreSQL gave it."""
    if op.get_bind().dialect.name == "sqlite":
        convention = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
        with op.batch_alter_table("modelroute", naming_convention=convention) as batch_op:
            batch_op.drop_constraint("uq_modelroute_model_id", type_="unique")
    else:
        op.drop_constraint("modelroute_model_id_provider_id_upstream_model_key", "modelroute", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("modelroute", schema=None) as batch_op:
        batch_op.drop_column("context_window")
        batch_op.drop_column("context_fallback")
        batch_op.drop_column("tags")
        batch_op.drop_column("headers_enc")
        batch_op.drop_column("params")
        batch_op.drop_column("price")
        batch_op.drop_column("monthly_usd_micros")
        batch_op.drop_column("daily_tokens")
        batch_op.drop_column("tpm")
        batch_op.drop_column("rpm")
        batch_op.drop_column("keys")
        batch_op.create_unique_constraint("uq_modelroute_model_id", ROUTE_UNIQUE_COLUMNS)

    with op.batch_alter_table("logicalmodel", schema=None) as batch_op:
        batch_op.drop_column("stream_timeout_seconds")
        batch_op.drop_column("timeout_seconds")
        batch_op.drop_column("num_retries")

    with op.batch_alter_table("keystate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consecutive_failures", sa.INTEGER(), nullable=False, server_default="0"))

    op.drop_table("routestate")
    op.drop_table("deploymentstate")
    with op.batch_alter_table("modelalias", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_modelalias_name"))
        batch_op.drop_index(batch_op.f("ix_modelalias_model_id"))

    op.drop_table("modelalias")
