"""Who is signed in to the console: the browser session holds only a user id and an epoch.

Every page load re-reads the user, so a role change, a disabled account or a "sign out everywhere"
(which bumps ``session_epoch``) takes effect at once, on the server.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.tables import User


@dataclass(frozen=True, slots=True)
class SessionUser:
    id: int
    email: str
    name: str
    role: str
    dark_mode: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def display_name(self) -> str:
        return self.name or self.email


def load_session_user(engine: Engine, user_id: object, epoch: object) -> SessionUser | None:
    if not isinstance(user_id, int) or not isinstance(epoch, int):
        return None
    with Session(engine) as session:
        user = session.get(User, user_id)
    if user is None or user.status != "active" or user.session_epoch != epoch:
        return None
    return SessionUser(user.id or 0, user.email, user.name, user.role, user.dark_mode)


def any_user_exists(engine: Engine) -> bool:
    with Session(engine) as session:
        return session.exec(select(User.id).limit(1)).first() is not None


def set_dark_mode(engine: Engine, user_id: int, enabled: bool) -> None:
    with Session(engine) as session:
        user = session.get(User, user_id)
        if user is not None:
            user.dark_mode = enabled
            session.add(user)
            session.commit()
