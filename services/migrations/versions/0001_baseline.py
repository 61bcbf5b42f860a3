"""baseline: the schema of release 0.1.0

One piece: a migration is a frozen record of one schema step, every table of release 0.1.0 created in
its order; splitting it would only scatter that record.

Revision ID: 0001
Revises:
Create Date: 2026-12-07 18:03:36.203357
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alertevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("limit_value", sa.Float(), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject", "level", "period"),
    )
    with op.batch_alter_table("alertevent", schema=None) as batch_op:
        batch_op.create_index("ix_alert_at", ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alertevent_user_id"), ["user_id"], unique=False)

    op.create_table(
        "appsetting",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "attempt_rollup_day",
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("tried", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("rate_limited", sa.Integer(), nullable=False),
        sa.Column("ms_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "user_id", "token_id", "provider", "key_id", "model"),
    )
    op.create_table(
        "attempt_rollup_hour",
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("tried", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("rate_limited", sa.Integer(), nullable=False),
        sa.Column("ms_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "user_id", "token_id", "provider", "key_id", "model"),
    )
    op.create_table(
        "auditevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("ip", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.create_index("ix_audit_at", ["at"], unique=False)

    op.create_table(
        "blindvote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("model_a", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model_b", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("blindvote", schema=None) as batch_op:
        batch_op.create_index("ix_blindvote_created", ["created_at"], unique=False)

    op.create_table(
        "conversation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("blind", sa.Boolean(), nullable=False),
        sa.Column("revealed", sa.Boolean(), nullable=False),
        sa.Column("same_settings", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_user_updated", ["user_id", "updated_at"], unique=False)

    op.create_table(
        "logicalmodel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("logicalmodel", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_logicalmodel_name"), ["name"], unique=True)

    op.create_table(
        "prompttemplate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prompttemplate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prompttemplate_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "provider",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("base_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_name"), ["name"], unique=True)

    op.create_table(
        "schemaversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "usage_rollup_day",
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.Integer(), nullable=False),
        sa.Column("cost_unknown", sa.Integer(), nullable=False),
        sa.Column("ttft_count", sa.Integer(), nullable=False),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.Column("ttft_ms_sum", sa.Float(), nullable=False),
        sa.Column("lat_0", sa.Integer(), nullable=False),
        sa.Column("lat_1", sa.Integer(), nullable=False),
        sa.Column("lat_2", sa.Integer(), nullable=False),
        sa.Column("lat_3", sa.Integer(), nullable=False),
        sa.Column("lat_4", sa.Integer(), nullable=False),
        sa.Column("lat_5", sa.Integer(), nullable=False),
        sa.Column("lat_6", sa.Integer(), nullable=False),
        sa.Column("lat_7", sa.Integer(), nullable=False),
        sa.Column("lat_8", sa.Integer(), nullable=False),
        sa.Column("lat_9", sa.Integer(), nullable=False),
        sa.Column("lat_10", sa.Integer(), nullable=False),
        sa.Column("lat_11", sa.Integer(), nullable=False),
        sa.Column("lat_12", sa.Integer(), nullable=False),
        sa.Column("lat_13", sa.Integer(), nullable=False),
        sa.Column("lat_14", sa.Integer(), nullable=False),
        sa.Column("lat_15", sa.Integer(), nullable=False),
        sa.Column("lat_16", sa.Integer(), nullable=False),
        sa.Column("lat_17", sa.Integer(), nullable=False),
        sa.Column("lat_18", sa.Integer(), nullable=False),
        sa.Column("lat_19", sa.Integer(), nullable=False),
        sa.Column("lat_20", sa.Integer(), nullable=False),
        sa.Column("lat_21", sa.Integer(), nullable=False),
        sa.Column("lat_22", sa.Integer(), nullable=False),
        sa.Column("lat_23", sa.Integer(), nullable=False),
        sa.Column("lat_24", sa.Integer(), nullable=False),
        sa.Column("lat_25", sa.Integer(), nullable=False),
        sa.Column("lat_26", sa.Integer(), nullable=False),
        sa.Column("lat_27", sa.Integer(), nullable=False),
        sa.Column("lat_28", sa.Integer(), nullable=False),
        sa.Column("lat_29", sa.Integer(), nullable=False),
        sa.Column("lat_30", sa.Integer(), nullable=False),
        sa.Column("lat_31", sa.Integer(), nullable=False),
        sa.Column("lat_32", sa.Integer(), nullable=False),
        sa.Column("lat_33", sa.Integer(), nullable=False),
        sa.Column("lat_34", sa.Integer(), nullable=False),
        sa.Column("lat_35", sa.Integer(), nullable=False),
        sa.Column("lat_36", sa.Integer(), nullable=False),
        sa.Column("lat_37", sa.Integer(), nullable=False),
        sa.Column("lat_38", sa.Integer(), nullable=False),
        sa.Column("lat_39", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "user_id", "token_id", "provider", "key_id", "model", "status"),
    )
    with op.batch_alter_table("usage_rollup_day", schema=None) as batch_op:
        batch_op.create_index("ix_usage_rollup_day_user", ["user_id", "bucket"], unique=False)

    op.create_table(
        "usage_rollup_hour",
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.Integer(), nullable=False),
        sa.Column("cost_unknown", sa.Integer(), nullable=False),
        sa.Column("ttft_count", sa.Integer(), nullable=False),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.Column("ttft_ms_sum", sa.Float(), nullable=False),
        sa.Column("lat_0", sa.Integer(), nullable=False),
        sa.Column("lat_1", sa.Integer(), nullable=False),
        sa.Column("lat_2", sa.Integer(), nullable=False),
        sa.Column("lat_3", sa.Integer(), nullable=False),
        sa.Column("lat_4", sa.Integer(), nullable=False),
        sa.Column("lat_5", sa.Integer(), nullable=False),
        sa.Column("lat_6", sa.Integer(), nullable=False),
        sa.Column("lat_7", sa.Integer(), nullable=False),
        sa.Column("lat_8", sa.Integer(), nullable=False),
        sa.Column("lat_9", sa.Integer(), nullable=False),
        sa.Column("lat_10", sa.Integer(), nullable=False),
        sa.Column("lat_11", sa.Integer(), nullable=False),
        sa.Column("lat_12", sa.Integer(), nullable=False),
        sa.Column("lat_13", sa.Integer(), nullable=False),
        sa.Column("lat_14", sa.Integer(), nullable=False),
        sa.Column("lat_15", sa.Integer(), nullable=False),
        sa.Column("lat_16", sa.Integer(), nullable=False),
        sa.Column("lat_17", sa.Integer(), nullable=False),
        sa.Column("lat_18", sa.Integer(), nullable=False),
        sa.Column("lat_19", sa.Integer(), nullable=False),
        sa.Column("lat_20", sa.Integer(), nullable=False),
        sa.Column("lat_21", sa.Integer(), nullable=False),
        sa.Column("lat_22", sa.Integer(), nullable=False),
        sa.Column("lat_23", sa.Integer(), nullable=False),
        sa.Column("lat_24", sa.Integer(), nullable=False),
        sa.Column("lat_25", sa.Integer(), nullable=False),
        sa.Column("lat_26", sa.Integer(), nullable=False),
        sa.Column("lat_27", sa.Integer(), nullable=False),
        sa.Column("lat_28", sa.Integer(), nullable=False),
        sa.Column("lat_29", sa.Integer(), nullable=False),
        sa.Column("lat_30", sa.Integer(), nullable=False),
        sa.Column("lat_31", sa.Integer(), nullable=False),
        sa.Column("lat_32", sa.Integer(), nullable=False),
        sa.Column("lat_33", sa.Integer(), nullable=False),
        sa.Column("lat_34", sa.Integer(), nullable=False),
        sa.Column("lat_35", sa.Integer(), nullable=False),
        sa.Column("lat_36", sa.Integer(), nullable=False),
        sa.Column("lat_37", sa.Integer(), nullable=False),
        sa.Column("lat_38", sa.Integer(), nullable=False),
        sa.Column("lat_39", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "user_id", "token_id", "provider", "key_id", "model", "status"),
    )
    with op.batch_alter_table("usage_rollup_hour", schema=None) as batch_op:
        batch_op.create_index("ix_usage_rollup_hour_user", ["user_id", "bucket"], unique=False)

    op.create_table(
        "usagebody",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("usagebody", schema=None) as batch_op:
        batch_op.create_index("ix_usagebody_created", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_usagebody_request_id"), ["request_id"], unique=False)

    op.create_table(
        "usagerecord",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("endpoint", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("requested_model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("provider_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("upstream_model", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("overhead_ms", sa.Float(), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("usagerecord", schema=None) as batch_op:
        batch_op.create_index("ix_usage_created", ["created_at"], unique=False)
        batch_op.create_index("ix_usage_token_created", ["token_id", "created_at"], unique=False)
        batch_op.create_index("ix_usage_user_created", ["user_id", "created_at"], unique=False)

    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("totp_secret_enc", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("totp_enabled", sa.Boolean(), nullable=False),
        sa.Column("recovery_codes", sa.JSON(), nullable=True),
        sa.Column("dark_mode", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_email"), ["email"], unique=True)

    op.create_table(
        "conversationcolumn",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversationcolumn", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversationcolumn_conversation_id"), ["conversation_id"], unique=False)

    op.create_table(
        "gatewaytoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("token_last4", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("monthly_budget_micros", sa.Integer(), nullable=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("allowed_models", sa.JSON(), nullable=True),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("gatewaytoken", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gatewaytoken_token_hash"), ["token_hash"], unique=True)
        batch_op.create_index(batch_op.f("ix_gatewaytoken_user_id"), ["user_id"], unique=False)

    op.create_table(
        "invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invite_token_hash"), ["token_hash"], unique=True)

    op.create_table(
        "modelroute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("upstream_model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["logicalmodel.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_id", "provider_id", "upstream_model"),
    )
    with op.batch_alter_table("modelroute", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_modelroute_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_modelroute_provider_id"), ["provider_id"], unique=False)

    op.create_table(
        "providercircuit",
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("open_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
        ),
        sa.PrimaryKeyConstraint("provider_id"),
    )
    op.create_table(
        "providerkey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("secret_enc", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("secret_last4", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("daily_tokens", sa.Integer(), nullable=True),
        sa.Column("monthly_usd_micros", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_id", "label"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("providerkey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_providerkey_provider_id"), ["provider_id"], unique=False)

    op.create_table(
        "userbudget",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("monthly_budget_micros", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "conversationmessage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("column_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("content", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("images", sa.JSON(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("stopped", sa.Boolean(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["column_id"],
            ["conversationcolumn.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversationmessage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversationmessage_column_id"), ["column_id"], unique=False)

    op.create_table(
        "keystate",
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("cooldown_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("disabled_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("exhausted_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("last_error_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("day", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("day_tokens", sa.Integer(), nullable=False),
        sa.Column("month", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("month_cost_micros", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["providerkey.id"],
        ),
        sa.PrimaryKeyConstraint("key_id"),
    )


def downgrade() -> None:
    op.drop_table("keystate")
    with op.batch_alter_table("conversationmessage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversationmessage_column_id"))

    op.drop_table("conversationmessage")
    op.drop_table("userbudget")
    with op.batch_alter_table("providerkey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_providerkey_provider_id"))

    op.drop_table("providerkey")
    op.drop_table("providercircuit")
    with op.batch_alter_table("modelroute", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_modelroute_provider_id"))
        batch_op.drop_index(batch_op.f("ix_modelroute_model_id"))

    op.drop_table("modelroute")
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_token_hash"))

    op.drop_table("invite")
    with op.batch_alter_table("gatewaytoken", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gatewaytoken_user_id"))
        batch_op.drop_index(batch_op.f("ix_gatewaytoken_token_hash"))

    op.drop_table("gatewaytoken")
    with op.batch_alter_table("conversationcolumn", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversationcolumn_conversation_id"))

    op.drop_table("conversationcolumn")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_email"))

    op.drop_table("user")
    with op.batch_alter_table("usagerecord", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_user_created")
        batch_op.drop_index("ix_usage_token_created")
        batch_op.drop_index("ix_usage_created")

    op.drop_table("usagerecord")
    with op.batch_alter_table("usagebody", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usagebody_request_id"))
        batch_op.drop_index("ix_usagebody_created")

    op.drop_table("usagebody")
    with op.batch_alter_table("usage_rollup_hour", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_rollup_hour_user")

    op.drop_table("usage_rollup_hour")
    with op.batch_alter_table("usage_rollup_day", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_rollup_day_user")

    op.drop_table("usage_rollup_day")
    op.drop_table("schemaversion")
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_name"))

    op.drop_table("provider")
    with op.batch_alter_table("prompttemplate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prompttemplate_owner_id"))

    op.drop_table("prompttemplate")
    with op.batch_alter_table("logicalmodel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_logicalmodel_name"))

    op.drop_table("logicalmodel")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_user_updated")

    op.drop_table("conversation")
    with op.batch_alter_table("blindvote", schema=None) as batch_op:
        batch_op.drop_index("ix_blindvote_created")

    op.drop_table("blindvote")
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_at")

    op.drop_table("auditevent")
    op.drop_table("attempt_rollup_hour")
    op.drop_table("attempt_rollup_day")
    op.drop_table("appsetting")
    with op.batch_alter_table("alertevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alertevent_user_id"))
        batch_op.drop_index("ix_alert_at")

    op.drop_table("alertevent")
