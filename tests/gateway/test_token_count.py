"""Prompt tokens counted with the provider's tokenizer, from the vocabularies the hub ships."""

from __future__ import annotations

from pathlib import Path

import pytest
import tiktoken.load

from services.gateway.token_count import SHIPPED_VOCABULARIES, TokenCount, Tokenizers, estimate_tokens


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """tiktoken fetches a vocabulary it cannot find in its cache: make any such fetch fail the test."""

    def no_download(blobpath: str) -> bytes:
        raise AssertionError(f"tiktoken tried to download {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_download)


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(("model", "token_ids"), [
    ("gpt-4o", [24912, 2375]),  # o200k_base, as OpenAI's tokenizer page shows "hello world"
    ("gpt-5-mini", [24912, 2375]),
    ("gpt-4", [15339, 1917]),  # cl100k_base
    ("openai/gpt-4.1", [24912, 2375]),  # a provider/model name counts as its model
])
def test_shipped_vocabularies_load_offline_and_tokenize_as_openai_does(model: str, token_ids: list[int]) -> None:
    encoding = Tokenizers().encoding(model, wait=True)
    assert encoding is not None and encoding.encode_ordinary("hello world") == token_ids


def test_a_chat_prompt_counts_the_message_framing() -> None:
    """OpenAI's count of a chat prompt: 3 tokens a message, its role and its text, and 3 priming the reply."""
    tokenizers = Tokenizers()
    tokenizers.encoding("gpt-4o", wait=True)
    counted = tokenizers.count_chat("gpt-4o", [("system", "Be brief."), ("user", "hello world")])
    assert (counted.tokens, counted.exact) == ((3 + 1 + 3) + (3 + 1 + 2) + 3, True)


def test_models_without_a_known_tokenizer_are_estimated() -> None:
    tokenizers = Tokenizers()
    counted = tokenizers.count_chat("claude-sonnet-4-5", [("user", "x" * 41)])
    assert (counted.tokens, counted.exact) == (estimate_tokens(41), False)
    assert estimate_tokens(41) == 11


def test_no_caller_waits_for_a_vocabulary_to_load(tmp_path: Path) -> None:
    """Until the vocabulary is loaded (in a background thread), the count is an estimate."""
    (tmp_path / "o200k_base.tiktoken.gz").write_bytes((SHIPPED_VOCABULARIES / "o200k_base.tiktoken.gz").read_bytes())
    tokenizers = Tokenizers(shipped=tmp_path)
    first = tokenizers.count_chat("gpt-4o", [("user", "hello world")])
    assert (first.tokens, first.exact) == (estimate_tokens(len("hello world")), False)
    assert tokenizers.encoding("gpt-4o", wait=True) is not None
    assert tokenizers.count_chat("gpt-4o", [("user", "hello world")]) == TokenCount(3 + 1 + 2 + 3, exact=True)
