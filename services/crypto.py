"""Encryption of provider secrets at rest (Fernet, rotatable with MultiFernet).

The master key comes from ``LLMHUB_SECRET_KEY`` (comma-separated Fernet keys, newest first, so an
old key can still decrypt while ``rotate`` re-encrypts with the new one) or is generated once into
``<data dir>/secret.key`` with mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.errors import SecretKeyError

SECRET_FILE_NAME = "secret.key"


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretKeyError("no encryption key")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError) as exc:
            raise SecretKeyError("LLMHUB_SECRET_KEY is not a valid Fernet key (32 url-safe base64 bytes)") from exc

    @classmethod
    def load(cls, data_dir: Path, env_value: str | None) -> SecretBox:
        if env_value:
            return cls([k.strip().encode() for k in env_value.split(",") if k.strip()])
        return cls([read_or_create_key_file(data_dir / SECRET_FILE_NAME)])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError("a stored secret cannot be decrypted with the configured key") from exc

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()


def read_or_create_key_file(path: Path) -> bytes:
    """A random key kept in a 0600 file, created on first use."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def mask_secret(secret: str) -> str:
    """What the UI and API show of a secret: its last four characters only."""
    return "…" + secret[-4:] if len(secret) >= 8 else "…"
