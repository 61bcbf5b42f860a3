"""Prompt tokens counted the way the provider counts them, where its tokenizer is known.

OpenAI's models tokenize with tiktoken's ``o200k_base`` (GPT-4o and later) or ``cl100k_base`` (GPT-4,
GPT-3.5, the embedding models). tiktoken downloads those vocabularies on first use, which an offline
install cannot do, so the hub ships them (``data/tokenizers/*.tiktoken.gz``, OpenAI's published files,
checked against the hashes tiktoken expects) and hands them to tiktoken through its own cache
directory. For every other model the count stays an estimate (a token per four characters).

Loading a vocabulary takes about half a second, so it happens once, in a background thread, the
first time a model needs it; until it is ready the count is an estimate (``TokenCount.exact`` is
False), so no caller ever waits.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import tiktoken

SHIPPED_VOCABULARIES = Path(__file__).resolve().parents[2] / "data" / "tokenizers"
VOCABULARY_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
TOKENS_PER_MESSAGE = 3  # OpenAI's chat format wraps each message in a few tokens of its own
REPLY_PRIMING = 3  # and primes the answer with three more


def estimate_tokens(chars: int) -> int:
    """A token per four characters: the usual rule of thumb for English text."""
    return math.ceil(chars / 4)


@dataclass(frozen=True, slots=True)
class TokenCount:
    tokens: int
    exact: bool  # counted with the provider's tokenizer, not estimated


class Tokenizers:
    """The shipped vocabularies, loaded on demand and kept for the process."""

    def __init__(self, shipped: Path = SHIPPED_VOCABULARIES) -> None:
        self.shipped = shipped
        self._loaded: dict[str, tiktoken.Encoding] = {}
        self._loading: set[str] = set()
        self._lock = threading.Lock()

    def encoding_name(self, upstream_model: str) -> str | None:
        """The vocabulary an upstream model uses, when it is one the hub ships."""
        try:
            name = tiktoken.encoding_name_for_model(upstream_model.rpartition("/")[2])
        except KeyError:
            return None
        return name if (self.shipped / f"{name}.tiktoken.gz").exists() else None

    def encoding(self, upstream_model: str, *, wait: bool = False) -> tiktoken.Encoding | None:
        """The model's tokenizer if it is loaded (or, with ``wait``, once it is); otherwise None, and
        the loading starts in the background."""
        name = self.encoding_name(upstream_model)
        if name is None:
            return None
        if name in self._loaded:
            return self._loaded[name]
        if wait:
            self._load(name)
            return self._loaded[name]
        if name not in self._loading:
            self._loading.add(name)
            threading.Thread(target=self._load, args=(name,), name=f"tokenizer-{name}", daemon=True).start()
        return None

    def _load(self, name: str) -> None:
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self._read(name)

    def _read(self, name: str) -> tiktoken.Encoding:
        """tiktoken verifies the vocabulary's hash and reads it from its cache directory when the file
        named after its URL is there: that is where the shipped copy goes, so nothing is fetched."""
        url = VOCABULARY_URL.format(name=name)
        with tempfile.TemporaryDirectory(prefix="llmhub-tiktoken-") as cache:
            cached = Path(cache) / hashlib.sha1(url.encode()).hexdigest()  # tiktoken's cache key
            cached.write_bytes(gzip.decompress((self.shipped / f"{name}.tiktoken.gz").read_bytes()))
            previous = os.environ.get("TIKTOKEN_CACHE_DIR")
            os.environ["TIKTOKEN_CACHE_DIR"] = cache
            try:
                return tiktoken.get_encoding(name)
            finally:
                if previous is None:
                    del os.environ["TIKTOKEN_CACHE_DIR"]
                else:
                    os.environ["TIKTOKEN_CACHE_DIR"] = previous

    def count_chat(self, upstream_model: str, messages: Iterable[tuple[str, str]]) -> TokenCount:
        """The prompt tokens of a chat request of these (role, text) messages, system prompt included,
        as OpenAI's guide to counting them adds them up."""
        pairs = list(messages)
        encoding = self.encoding(upstream_model)
        if encoding is None:
            return TokenCount(estimate_tokens(sum(len(text) for _, text in pairs)), exact=False)
        encode = encoding.encode_ordinary
        counted = sum(TOKENS_PER_MESSAGE + len(encode(role)) + len(encode(text)) for role, text in pairs)
        return TokenCount(counted + REPLY_PRIMING, exact=True)


TOKENIZERS = Tokenizers()
"""The process's tokenizers: vocabularies do not change, so every hub in a process shares them."""
