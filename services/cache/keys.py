"""The canonical form of a request, hashed into the key its answer is cached under.

Everything that can change the answer is in the key: the endpoint, the model as requested, the
messages (or input), tools and every parameter, with object keys sorted so the order a client wrote
them in does not matter. Left out are the fields that do not change it: ``stream_options`` (a chat
stream's usage chunk is added or dropped on replay), ``user`` (an end-user id for abuse tracking) and
routing ``tags``. For chat completions ``stream`` is left out too (``form`` "any"): a whole answer is
replayed as a stream and a recorded stream put back together (``services.cache.replay``). The other
APIs keep it in the key (``form``): their streams are replayed as recorded, event for event.

The scope (``scope_of``) goes into the key too, so an entry of one token is not even addressable by
another unless the model's scope was widened.

The semantic cache splits a conversation in two: its last user turn (``last_user_text``), which is
embedded, and the rest, hashed exactly into ``context_key`` with the scope and every parameter.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from services.accounts.tokens import Principal
from services.cache.policy import CacheScope

Json = dict[str, Any]
IGNORED_FIELDS = frozenset({"stream", "stream_options", "user", "tags"})
"""Top-level fields that never change an answer."""


def scope_of(principal: Principal, scope: CacheScope) -> str:
    """Who may find an entry: one token, one person (all their tokens), or everyone. The master key
    (no token, no person) is a scope of its own."""
    if scope == "everyone":
        return "*"
    if scope == "person":
        return f"p{principal.user_id}" if principal.user_id is not None else "p-"
    return f"t{principal.token_id}" if principal.token_id is not None else "t-"


def canonical(body: Json) -> Json:
    """The body without the fields that do not change the answer (nor ``tags`` inside ``metadata``)."""
    kept = {name: value for name, value in body.items() if name not in IGNORED_FIELDS}
    metadata = kept.get("metadata")
    if isinstance(metadata, dict) and "tags" in metadata:
        kept["metadata"] = {name: value for name, value in metadata.items() if name != "tags"}
    return kept


def digest(*parts: Any) -> str:
    return hashlib.blake2b(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS), digest_size=20).hexdigest()


def request_key(endpoint: str, form: str, scope: str, body: Json) -> str:
    """The exact key of a request's answer."""
    return digest(endpoint, form, scope, canonical(body))


def conversation_field(endpoint: str) -> str:
    """The body field that holds the conversation: ``messages``, or the Responses API's ``input``."""
    return "input" if endpoint == "responses" else "messages"


def last_user_text(endpoint: str, body: Json) -> str | None:
    """The text of the conversation's last turn when that is the user's (a plain string, or the text
    parts of a content list); None when the last turn is another role's or holds no text."""
    turns = body.get(conversation_field(endpoint))
    if isinstance(turns, str):
        return turns
    if not isinstance(turns, list) or not turns or not isinstance(turns[-1], dict) or turns[-1].get("role", "user") != "user":
        return None
    content = turns[-1].get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
        return " ".join(texts) if texts and len(texts) == len(content) else None
    return None


def context_key(endpoint: str, form: str, scope: str, body: Json) -> str:
    """The exact key of everything but the last user turn: the semantic cache's first filter."""
    rest = canonical(body)
    field = conversation_field(endpoint)
    turns = rest.get(field)
    rest[field] = turns[:-1] if isinstance(turns, list) else None
    return digest("context", endpoint, form, scope, rest)
