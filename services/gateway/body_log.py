"""Which answers are kept with their bodies, and in what form: body logging is an admin setting,
read without a database query per request."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from services.gateway.adapters.shapes import Json
from services.usage.settings import body_logging, settings_writes


class BodyLog:
    """Whether request and response bodies are stored (an admin setting, off by default).

    Read from the database once and again only after a settings write in this process, so the
    request path does not query for it.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._seen = -1
        self._on = False

    def enabled(self) -> bool:
        if self._seen != settings_writes():
            self._seen = settings_writes()
            self._on = body_logging(self.engine)
        return self._on


def loggable_answer(response: Json) -> Json:
    """The answer as it is worth keeping: embedding vectors are replaced by their length."""
    if response.get("object") != "list":
        return response
    data = [{**item, "embedding": f"[{len(item.get('embedding') or ())} numbers]"} for item in response.get("data", ())]
    return {**response, "data": data}
