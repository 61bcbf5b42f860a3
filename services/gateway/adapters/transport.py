"""The upstream client: one shared pooled ``httpx.AsyncClient`` whose connections are aiohttp's.

``UpstreamClient`` is an ``httpx.AsyncClient`` over ``AiohttpTransport``, an httpx transport backed
by one ``aiohttp.ClientSession``: anything that speaks httpx (alert webhooks, tests) can use it, and
the sockets, the connection pool and HTTP/1.1 parsing are aiohttp's: httpx's own transport
(httpcore) does O(connections) pool bookkeeping per request, which caps a busy proxy far below
aiohttp's client (the figures are in ``bench/README.md``). The adapters' hot path goes one step further:
``UpstreamClient.open`` posts on the aiohttp session directly and skips httpx's per-request models.

What is mapped, on both paths:

* timeouts: httpx's ``pool`` is aiohttp's ``connect`` (waiting for a pooled connection included),
  ``connect`` is ``sock_connect``, ``read`` is ``sock_read`` (between two reads of the body, as in
  httpx); httpx's ``write`` has no aiohttp equivalent;
* errors: aiohttp's exceptions, raised while sending or while the body streams, come out as the
  httpx exception httpcore would have raised for the same failure (``ConnectError``,
  ``ConnectTimeout``, ``ReadTimeout``, ``RemoteProtocolError``, ``ReadError``,
  ``UnsupportedProtocol``), so ``services.gateway.adapters.errors.transport_error`` classifies them as before;
* bodies: on the httpx path aiohttp leaves ``Content-Encoding`` alone so httpx decodes once; cookies
  are nobody's business here (aiohttp keeps none).

``open`` and the reads of its response add the time they spent awaiting the upstream to the
``WireTime`` the running routing attempt entered, so the gateway's own work
around a call (translating, encoding, parsing) is not mistaken for upstream time.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from functools import lru_cache

import aiohttp
import httpx
from yarl import URL

# Most specific first: the first class an aiohttp exception is an instance of decides.
ERROR_MAP: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.ReadError),
)


def as_httpx_error(exc: aiohttp.ClientError, request: httpx.Request | None = None) -> httpx.TransportError:
    """The httpx exception httpcore would have raised for the failure aiohttp raised as ``exc``."""
    mapped = next(target for source, target in ERROR_MAP if isinstance(exc, source))
    return mapped(str(exc) or type(exc).__name__, request=request)


@contextmanager
def httpx_errors(request: httpx.Request | None = None) -> Iterator[None]:
    """Re-raise aiohttp's exceptions as httpx's."""
    try:
        yield
    except aiohttp.ClientError as exc:
        raise as_httpx_error(exc, request) from exc


@lru_cache(maxsize=64)
def client_timeout(pool: float | None, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)


class AiohttpResponseStream(httpx.AsyncByteStream):
    """A response body read as it arrives; closing it hands the connection back to aiohttp's pool
    (or drops it, when the body was not read to its end)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with httpx_errors(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one ``aiohttp.ClientSession``, opened on first use inside the running
    event loop (the client itself is built before the loop starts)."""

    def __init__(self, *, max_connections: int, keepalive_expiry: float, verify: ssl.SSLContext | bool = True) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive_expiry, ssl=self._verify)
            session = self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        with httpx_errors(request):
            response = await self.session().request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=[(name.decode(), value.decode()) for name, value in request.headers.raw],
                data=await request.aread(),
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes by Content-Encoding itself
                timeout=client_timeout(timeout.get("pool"), timeout.get("connect"), timeout.get("read")),
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=AiohttpResponseStream(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class WireTime:
    """Seconds one routing attempt spent awaiting its upstream: the answer's headers and body.

    ``with WireTime() as wire:`` adds the upstream waits inside the block (in this task) to ``wire``;
    reads after the block (a stream's later chunks) are not added. A class rather than a
    ``@contextmanager`` generator: it is entered on every attempt.
    """

    __slots__ = ("_token", "seconds")

    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> WireTime:
        self._token = _wire_time.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _wire_time.reset(self._token)

    def add_since(self, began: float) -> None:
        self.seconds += time.perf_counter() - began


_wire_time: ContextVar[WireTime | None] = ContextVar("llmhub_wire_time", default=None)


class UpstreamResponse:
    """An aiohttp response under the httpx names the adapters read; its errors come out as httpx's."""

    __slots__ = ("_response", "headers", "status_code")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers: Mapping[str, str] = response.headers

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    async def aread(self) -> bytes:
        wire, began = _wire_time.get(), time.perf_counter()
        with httpx_errors():
            content = await self._response.read()
        if wire is not None:
            wire.add_since(began)
        return content

    async def read_chunk(self) -> bytes:
        """The next piece of the (decompressed) body as soon as it arrived; ``b""`` at its end.

        A coroutine rather than an async generator: a stream reader calls it once a read, and each
        async generator layer between the socket and the client costs every read a step of its own.
        """
        wire, began = _wire_time.get(), time.perf_counter()
        try:
            chunk = await self._response.content.readany()
        except aiohttp.ClientError as exc:
            raise as_httpx_error(exc) from exc
        if wire is not None:
            wire.add_since(began)
        return chunk

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The (decompressed) body as it arrives."""
        while chunk := await self.read_chunk():
            yield chunk


class UpstreamClient(httpx.AsyncClient):
    """The one shared pooled upstream client.

    As an ``httpx.AsyncClient`` it serves any caller (alert webhooks, tests). The adapters' calls
    (``services/gateway/adapters/wire.py``) use ``open``, which posts on the same aiohttp session directly:
    httpx's own per-request work (URL and header models, cookie, auth and redirect flows, logging)
    is a large share of a gateway call's added latency and throughput (``bench/README.md``).
    """

    def __init__(self, timeout: httpx.Timeout, *, max_connections: int, keepalive_expiry: float, verify: ssl.SSLContext | bool) -> None:
        self._aiohttp = AiohttpTransport(max_connections=max_connections, keepalive_expiry=keepalive_expiry, verify=verify)
        super().__init__(timeout=timeout, transport=self._aiohttp)
        self._session_timeout = client_timeout(timeout.pool, timeout.connect, timeout.read)

    def _call_timeout(self, read: float | None) -> aiohttp.ClientTimeout:
        """The session's timeouts, or the same with another read timeout (a model's own)."""
        if read is None:
            return self._session_timeout
        return client_timeout(self._session_timeout.connect, self._session_timeout.sock_connect, read)

    @asynccontextmanager
    async def open(
        self, url: str, headers: Mapping[str, str], body: bytes, read_timeout: float | None = None
    ) -> AsyncIterator[UpstreamResponse]:
        """POST ``body`` and hand out the response once its headers arrived; leaving the block hands
        the connection back to the pool (when the body was read to its end) or closes it.
        ``read_timeout`` replaces the client's wait for an upstream byte for this call."""
        wire, began = _wire_time.get(), time.perf_counter()
        with httpx_errors():
            async with self._aiohttp.session().post(
                url, data=body, headers=headers, allow_redirects=False, timeout=self._call_timeout(read_timeout)
            ) as response:
                if wire is not None:
                    wire.add_since(began)
                yield UpstreamResponse(response)


def upstream_client(
    timeout: httpx.Timeout, *, max_connections: int = 1000, keepalive_expiry: float = 30.0, verify: ssl.SSLContext | bool = True
) -> UpstreamClient:
    """The shared pooled client every adapter call goes through."""
    return UpstreamClient(timeout, max_connections=max_connections, keepalive_expiry=keepalive_expiry, verify=verify)
