"""What the ``Accounts`` facade answers: sign-in steps, invites, two-factor enrolment, a profile.

Frozen dataclasses, free of NiceGUI and FastAPI; a secret in one of them (an invite link's token, a
two-factor secret) is shown to its owner once and never stored in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.tables import Invite


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What the console session stores: the user and their current session epoch."""

    user_id: int
    epoch: int


@dataclass(frozen=True, slots=True)
class SecondFactorNeeded:
    """The password was right; a code is still due. Kept on the server, never sent to the browser."""

    user_id: int
    email: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class CreatedInvite:
    raw_token: str  # only in this answer; the database keeps its hash
    email: str
    role: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class InviteView:
    id: int
    email: str
    role: str
    expires_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, invite: Invite) -> InviteView:
        return cls(invite.id or 0, invite.email or "", invite.role, invite.expires_at, invite.created_at)


@dataclass(frozen=True, slots=True)
class TwoFactorEnrolment:
    secret: str  # shown to its owner once, as a QR code and as text for typing in
    uri: str
    qr_data_url: str


@dataclass(frozen=True, slots=True)
class ProfileView:
    email: str
    name: str
    role: str
    two_factor: bool
    recovery_codes_left: int
