"""The hub's own secrets, for redaction by value: a provider key or master key pasted into a message is
masked in stored bodies (and so in exports) whatever it looks like, not only when a pattern knows its shape.

The secrets are the provider keys of the routing table in force and the process's master key, compiled
into one alternation (longest first, so a key that contains another is masked whole). A key whose
secret is a JSON object (a Vertex service account, an Entra ID credential) adds its secret members
too, each on its own, and a PEM private key each line of its body: a private key pasted alone, or a
piece of it, is masked as well as the whole file. It is rebuilt when the routing table is swapped
(every catalog change swaps it) and only asked for while body logging is on: the request path does
not pay for it otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

import orjson

from services.gateway.routing_table import RoutingTable

MIN_SECRET_LENGTH = 8  # shorter "secrets" (emulator behaviours, test placeholders) would mask ordinary words
SECRET_MEMBERS = ("private_key", "private_key_id", "client_secret")
"""The members of a JSON credential that are secret on their own (its e-mail, ids and URLs are not)."""
PEM_ARMOUR = "-----"


def secret_parts(secret: str) -> Iterator[str]:
    """The secret itself, then, for a JSON credential, its secret members and a PEM key's body lines."""
    yield secret
    if not secret.startswith("{"):
        return
    try:
        credential = orjson.loads(secret)
    except orjson.JSONDecodeError:
        return
    if not isinstance(credential, dict):
        return
    for name in SECRET_MEMBERS:
        if isinstance(value := credential.get(name), str):
            yield value
            yield from (line.strip() for line in value.splitlines() if PEM_ARMOUR not in line)


def secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any of ``secrets`` (None when there are none worth matching)."""
    values = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, values))) if values else None


class SecretValues:
    """The current secrets' pattern, worked out once per routing table."""

    def __init__(self, table: Callable[[], RoutingTable], master_key: str | None) -> None:
        self._table = table
        self._master_key = master_key
        self._seen: RoutingTable | None = None
        self._pattern: re.Pattern[str] | None = None

    def pattern(self) -> re.Pattern[str] | None:
        table = self._table()
        if table is not self._seen:
            keys = (part for keys in table.keys_by_provider.values() for key in keys for part in secret_parts(key.secret))
            self._pattern = secret_pattern([*keys, *([self._master_key] if self._master_key else [])])
            self._seen = table
        return self._pattern
