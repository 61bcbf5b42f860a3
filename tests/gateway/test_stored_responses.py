"""Stored Responses API answers across instances, on SQLite and PostgreSQL: an answer one instance keeps is
found by another (read from the table), continued from, and deleted from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.accounts.tokens import Principal
from services.errors import GatewayError
from services.gateway.stored_responses import ResponseStore
from tests.databases import on_each_database  # noqa: F401  (autouse: this module runs on both databases)
from tests.factories import fresh_engine

ANN = Principal(user_id=1, role="user", token_id=7)
BOB = Principal(user_id=2, role="user", token_id=8)
ANSWER = {"id": "resp_001", "object": "response", "output": [{"type": "message", "role": "assistant", "content": [
    {"type": "output_text", "text": "Paris."}]}]}


async def test_an_answer_kept_by_one_instance_is_continued_and_deleted_through_another(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    first, second = ResponseStore(engine), ResponseStore(engine)  # two instances: each its own memory, one table
    asked = {"model": "smart", "input": "Capital of France?"}
    _, items = await first.conversation(ANN, asked)
    first.keep(ANN, asked, items, ANSWER)
    await first.settle()
    assert await second.get(ANN, "resp_001") == ANSWER
    forwarded, _ = await second.conversation(ANN, {"model": "smart", "input": "And of Italy?", "previous_response_id": "resp_001"})
    assert [item.get("role") for item in forwarded["input"]] == ["user", "assistant", "user"]
    with pytest.raises(GatewayError):
        await second.get(BOB, "resp_001")  # another token's answer is not found
    assert (await second.delete(ANN, "resp_001"))["deleted"] is True
    with pytest.raises(GatewayError):
        await ResponseStore(engine).get(ANN, "resp_001")
    engine.dispose()
