"""The baseline for ``bench/gateway.py``: the barest Python proxy on the same stack as LLM Hub.

A raw ASGI app on uvicorn (uvloop + httptools) with one shared upstream client. It forwards
``POST /v1/chat/completions``, ``POST /v1/messages`` and ``POST /v1/responses`` bodies, with the client's
``Authorization`` header, to the upstream and hands the answer back: whole for JSON, chunk by chunk for an
event stream. No auth, no routing, no metering; anything a real gateway does on top of this is what the benchmark calls overhead.

The upstream client is LLM Hub's own, used as its adapters use it (``UpstreamClient.open``: straight
onto the shared aiohttp session). ``--client httpx`` goes through the same client's httpx interface
(what httpx's request and response models would cost on top); ``--client httpcore`` uses an
``httpx.AsyncClient`` on httpx's own transport (LLM Hub's upstream client before).

    python bench/passthrough.py --port 9200 --upstream http://127.0.0.1:9100 [--client hub|httpx|httpcore]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import uvicorn
from starlette.types import Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.gateway.adapters.transport import UpstreamClient, upstream_client

FORWARDED = (b"authorization", b"content-type")
FORWARDED_PATHS = frozenset({"/v1/chat/completions", "/v1/messages", "/v1/responses"})
CLIENTS = ("hub", "httpx", "httpcore")
MAX_CONNECTIONS = 1000  # as LLM Hub's client: never the bottleneck


class Passthrough:
    def __init__(self, upstream: str, client: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.client_kind = client
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in FORWARDED_PATHS:
            url = self.upstream + scope["path"]
            headers = {name.decode(): value.decode() for name, value in scope["headers"] if name in FORWARDED}
            body = await read_body(receive)
            if self.client_kind == "hub":
                await self.forward_hub(url, headers, body, send)
            else:
                await self.forward_httpx(url, headers, body, send)
        elif scope["type"] == "http":
            status = 200 if scope["path"] == "/health" else 404
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.client_kind == "httpcore":
                    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=200, keepalive_expiry=30)
                    self.client = httpx.AsyncClient(timeout=60, limits=limits)
                else:
                    self.client = upstream_client(httpx.Timeout(60), max_connections=MAX_CONNECTIONS)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def forward_hub(self, url: str, headers: dict[str, str], body: bytes, send: Send) -> None:
        assert isinstance(self.client, UpstreamClient)
        async with self.client.open(url, headers, body) as response:
            await relay(send, response.status_code, response.headers.get("content-type", ""), response.aiter_bytes(), response.aread)

    async def forward_httpx(self, url: str, headers: dict[str, str], body: bytes, send: Send) -> None:
        assert self.client is not None
        response = await self.client.send(self.client.build_request("POST", url, headers=headers, content=body), stream=True)
        try:
            await relay(send, response.status_code, response.headers.get("content-type", ""), response.aiter_raw(), response.aread)
        finally:
            await response.aclose()


async def relay(send: Send, status: int, content_type: str, chunks: AsyncIterator[bytes], read_all: Callable[[], Awaitable[bytes]]) -> None:
    """Answer the client: an event stream chunk by chunk as it arrives, anything else whole."""
    headers = [(b"content-type", (content_type or "application/json").encode())]
    if content_type.startswith("text/event-stream"):
        await send({"type": "http.response.start", "status": status, "headers": headers})
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = await read_all()
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description="A bare Python passthrough proxy (benchmark baseline)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the upstream, e.g. http://127.0.0.1:9100")
    parser.add_argument("--client", choices=CLIENTS, default="hub", help="upstream HTTP client (default hub: LLM Hub's own)")
    args = parser.parse_args()
    app = Passthrough(args.upstream, args.client)
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools", access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
