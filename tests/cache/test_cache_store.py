"""The cache key's canonical form, the table's eviction and the semantic index, on their own; the table's
queries on SQLite and on PostgreSQL (``tests.databases``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import orjson

from services.accounts.tokens import Principal
from services.cache.keys import context_key, last_user_text, request_key, scope_of
from services.cache.replay import answer_of_chunks, chunks_of_answer
from services.cache.semantic import SKETCHED_FROM, SemanticIndex, normalized
from services.cache.store import AnswerStore, CachedAnswer, evict_entries, load_index, read_entry, write_entries
from tests.databases import on_each_database  # noqa: F401  (autouse: every test here runs on both databases)
from tests.factories import fresh_engine


def test_the_key_ignores_field_order_and_fields_that_do_not_change_the_answer() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0, "tools": [{"a": 1, "b": 2}]}
    shuffled = {"tools": [{"b": 2, "a": 1}], "temperature": 0, "user": "someone", "stream_options": {"include_usage": True},
                "messages": [{"content": "hi", "role": "user"}], "model": "m", "tags": ["x"]}
    assert request_key("chat", "json", "t1", body) == request_key("chat", "json", "t1", shuffled)
    assert request_key("chat", "json", "t1", body) != request_key("chat", "json", "t2", body)
    assert request_key("chat", "json", "t1", body) != request_key("chat", "stream", "t1", body)
    assert request_key("chat", "json", "t1", body) != request_key("chat", "json", "t1", {**body, "max_tokens": 5})
    assert request_key("chat", "json", "t1", body) != request_key("chat", "json", "t1", {**body, "model": "n"})


def test_scopes() -> None:
    alice_1 = Principal(user_id=1, role="user", token_id=10)
    alice_2 = Principal(user_id=1, role="user", token_id=11)
    master = Principal(user_id=None, role="admin")
    assert scope_of(alice_1, "token") != scope_of(alice_2, "token")
    assert scope_of(alice_1, "person") == scope_of(alice_2, "person") != scope_of(master, "person")
    assert scope_of(alice_1, "everyone") == scope_of(master, "everyone")


def test_the_semantic_split_keeps_the_rest_of_the_conversation_exact() -> None:
    turns = [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "capital of France?"}]}]
    body = {"model": "m", "messages": turns}
    assert last_user_text("chat", body) == "capital of France?"
    assert last_user_text("responses", {"input": "plain text"}) == "plain text"
    assert last_user_text("chat", {"messages": [*turns, {"role": "assistant", "content": "Paris"}]}) is None
    other_question = {"model": "m", "messages": [turns[0], {"role": "user", "content": "France's capital?"}]}
    other_system = {"model": "m", "messages": [{"role": "system", "content": "be long"}, turns[1]]}
    assert context_key("chat", "json", "t1", body) == context_key("chat", "json", "t1", other_question)
    assert context_key("chat", "json", "t1", body) != context_key("chat", "json", "t1", other_system)


def answer(key: str, model: str, created: float, ttl: float, size: int = 10) -> CachedAnswer:
    return CachedAnswer(key, model, "chat", "json", b"x" * size, created, created + ttl)


def test_eviction_drops_the_expired_and_each_models_oldest_beyond_its_limits(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    now = time.time()
    write_entries(engine, [answer("old", "a", now - 100, 50), *(answer(f"a{i}", "a", now - 50 + i, 3600) for i in range(5)),
                           *(answer(f"b{i}", "b", now - 50 + i, 3600, size=600) for i in range(4))])
    evicted = evict_entries(engine, now, {"a": (3, None), "b": (None, 1500)})
    assert sorted(evicted) == ["a0", "a1", "b0", "b1", "old"]
    assert sorted(load_index(engine, now)) == ["a2", "a3", "a4", "b2", "b3"]
    kept = read_entry(engine, "a4")
    assert kept is not None and kept.content == b"x" * 10 and abs(kept.expires_at - (now - 46 + 3600)) < 0.01


def test_the_memory_tier_is_bounded_and_knows_what_the_table_holds() -> None:
    store = AnswerStore(memory_bytes=25)
    now = time.time()
    for name in ("a", "b", "c"):
        store.keep(answer(name, "m", now, 60))
    assert store.recent("a", now) is None and store.stored("a", now), "evicted from memory, still in the table"
    assert store.recent("c", now) is not None
    assert store.recent("c", now + 61) is None and not store.stored("c", now + 61)


def test_a_large_context_finds_a_near_duplicate_among_many_through_its_sketches() -> None:
    rng = np.random.default_rng(3)
    index = SemanticIndex()
    shared = rng.standard_normal(384, dtype=np.float32)  # questions of one context look alike: a common component
    rows = [normalized(shared + rng.standard_normal(384, dtype=np.float32)) for _ in range(SKETCHED_FROM + 2000)]
    for number, row in enumerate(rows):
        assert row is not None
        index.add("ctx", f"k{number}", row)
    for planted in (17, 5000, SKETCHED_FROM + 1999):
        target = rows[planted]
        assert target is not None
        query = normalized(target + 0.3 * normalized(rng.standard_normal(384, dtype=np.float32)))  # cosine ≈ 0.96
        assert query is not None
        assert index.nearest("ctx", query, 0.9) == f"k{planted}"
    assert index.nearest("other", rows[0], 0.9) is None  # type: ignore[arg-type]
    index.forget(["k17"])
    query = normalized(rows[17])
    assert query is not None and index.nearest("ctx", query, 0.99) is None


def test_a_chat_answer_and_its_stream_are_made_from_each_other() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"q": "x"}'}}]
    answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 5, "model": "m",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there,  you", "tool_calls": calls},
                           "finish_reason": "tool_calls"}],
              "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}}
    streamed = chunks_of_answer(orjson.dumps(answer))
    lines = [orjson.loads(line) for line in streamed.split(b"\n")]
    assert all(line["object"] == "chat.completion.chunk" and line["id"] == "chatcmpl-1" for line in lines)
    assert "".join(line["choices"][0]["delta"].get("content") or "" for line in lines[:-1]) == "Hello there,  you"
    assert lines[-1]["choices"] == [] and lines[-1]["usage"]["total_tokens"] == 7
    rebuilt = orjson.loads(answer_of_chunks(streamed))
    assert rebuilt == answer
