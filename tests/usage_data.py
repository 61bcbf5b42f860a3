"""Test data for the usage tests: a fresh database, people and keys, and usage rows written
through the real recorder path (raw insert + rollups in one transaction)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.db import init_schema, make_engine
from services.tables import GatewayToken, Provider, ProviderKey, User
from services.usage.recorder import UsageRecorder

NOW = datetime(2026, 11, 14, 12, 30, tzinfo=UTC)
_ids = itertools.count(1)


def fresh_engine(tmp_path: Path) -> Engine:
    engine = make_engine(tmp_path / "usage.db")
    init_schema(engine)
    return engine


def add_people(engine: Engine) -> dict[str, int]:
    """Two users with a token each, one provider with two keys; returns their ids by name."""
    with Session(engine) as session:
        ann = User(email="ann@example.com", role="admin")
        bob = User(email="bob@example.com")
        provider = Provider(name="emu", kind="openai", base_url="http://emu/v1")
        session.add_all([ann, bob, provider])
        session.flush()
        ann_token = GatewayToken(user_id=ann.id or 0, name="ann-laptop", token_hash="a" * 64, token_last4="AAAA", monthly_budget_micros=10_000_000)
        bob_token = GatewayToken(user_id=bob.id or 0, name="bob-ci", token_hash="b" * 64, token_last4="BBBB", monthly_budget_micros=1_000_000)
        primary = ProviderKey(provider_id=provider.id or 0, label="primary", secret_enc="x", secret_last4="1234", daily_tokens=1000)
        backup = ProviderKey(provider_id=provider.id or 0, label="backup", secret_enc="y", secret_last4="5678", monthly_usd_micros=2_000_000)
        session.add_all([ann_token, bob_token, primary, backup])
        session.commit()
        return {"ann": ann.id or 0, "bob": bob.id or 0, "ann_token": ann_token.id or 0, "bob_token": bob_token.id or 0,
                "primary": primary.id or 0, "backup": backup.id or 0, "provider": provider.id or 0}


def usage_row(**overrides: Any) -> dict[str, Any]:
    """A usage row as the gateway queues it (served by emu/primary unless overridden)."""
    row: dict[str, Any] = {
        "created_at": NOW, "request_id": f"req_{next(_ids):06d}", "source": "api", "token_id": None, "user_id": None,
        "endpoint": "chat", "requested_model": "smart", "provider_id": 1, "provider_name": "emu", "upstream_model": "gpt-4o",
        "key_id": 1, "status": "ok", "http_status": 200, "error_code": None, "prompt_tokens": 10, "completion_tokens": 5,
        "cost_micros": 100, "latency_ms": 200.0, "ttft_ms": None, "overhead_ms": 1.0, "stream": False,
        "attempts": [{"provider": "emu", "model": "gpt-4o", "key_id": 1, "key_label": "primary", "outcome": "served", "ms": 190.0}],
    }
    row.update(overrides)
    return row


def write_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Queue and flush through the recorder (a sync helper for sync tests)."""
    recorder = UsageRecorder(engine)
    for row in rows:
        recorder.record(row)
    asyncio.run(recorder.flush())
