"""Two-factor sign-in: time-based one-time passwords (RFC 6238) and single-use recovery codes.

The TOTP secret is created here; callers store it encrypted (``SecretBox``). Recovery codes are
random (50 bits each), so a plain SHA-256 is enough to store them; each one works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import pyotp
import qrcode
from qrcode.image.svg import SvgPathImage

ISSUER = "LLM Hub"
STEP_SECONDS = 30
CODE_DIGITS = 6
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to copy from paper


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_data_url(text: str) -> str:
    """A QR code of ``text`` as an SVG data URL (no image library needed, crisp at any size)."""
    svg = qrcode.make(text, image_factory=SvgPathImage, border=2).to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _digits(code: str) -> str:
    return "".join(code.split())


def matching_step(secret: str, code: str, now: float, *, drift_steps: int = 1) -> int | None:
    """The time step ``code`` belongs to (allowing one step of clock drift either way), or None.

    Callers remember the last accepted step per user so a code cannot be replayed.
    """
    code = _digits(code)
    if len(code) != CODE_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    for step in range(current - drift_steps, current + drift_steps + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def code_at(secret: str, now: float) -> str:
    """The code an authenticator app shows at ``now`` (for tests and the enrolment check)."""
    return pyotp.TOTP(secret).generate_otp(int(now // STEP_SECONDS))


def _normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(_normalize_recovery_code(code).encode()).hexdigest()


def spend_recovery_code(hashes: list[str], code: str) -> list[str] | None:
    """The hashes left after using ``code``, or None when it is not one of them."""
    digest = hash_recovery_code(code)
    matches = [h for h in hashes if hmac.compare_digest(h, digest)]
    if not _normalize_recovery_code(code) or not matches:
        return None
    return [h for h in hashes if h != matches[0]]
