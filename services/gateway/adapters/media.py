"""An image or audio request as it goes upstream: OpenAI's ``images/generations``, ``audio/speech``
(JSON bodies) and ``audio/transcriptions`` (a multipart form with the audio file).

The body is built for each attempt with that route's upstream model in it; everything else the
client sent goes as it came. The multipart form is encoded by urllib3's ``encode_multipart_formdata``
(boundary, quoting of names and file names, per-part content types), not by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from urllib3 import encode_multipart_formdata

from services.gateway.adapters.shapes import Json
from services.gateway.adapters.wire import JSON_CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class AudioFile:
    filename: str
    content: bytes = field(repr=False)
    content_type: str


@dataclass(frozen=True, slots=True)
class MediaRequest:
    path: str  # under the provider's base URL: "images/generations", "audio/speech", "audio/transcriptions"
    fields: Json  # the JSON body, or the form's fields besides the file
    file: AudioFile | None = None

    def encoded(self, model: str) -> tuple[bytes, str]:
        """The request's bytes and content type for an upstream whose name for the model is ``model``."""
        fields = {**self.fields, "model": model}
        if self.file is None:
            return orjson.dumps(fields), JSON_CONTENT_TYPE
        parts: list[tuple[str, str | tuple[str, bytes, str]]] = [(name, str(value)) for name, value in fields.items()]
        parts.append(("file", (self.file.filename, self.file.content, self.file.content_type)))
        return encode_multipart_formdata(parts)
