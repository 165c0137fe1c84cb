"""A small HTTP/1.1 server for alert POSTs: one asyncio loop thread for every connection.

Why not http.server: a thread per connection, its email-based header parsing and the thread
switches between them capped the forwarder near 5,000 alerts/s on two cores. Here the loop
parses (wire.py, bounded), and the requests that complete in one pass of the loop go to the
handler as one batch: the forwarder writes them in one SQLite transaction per destination.
The handler runs in a pool thread, one batch at a time (another starts beside it when one runs
over 50 ms, e.g. held by a full queue), or with `inline` on the loop itself, for a handler that
never waits. A connection carries one request at a time: what a client sends ahead is parsed
only after the answer is written, so pipelined requests are answered in order.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
import orjson

from bridge.intake.wire import MAX_HEAD_BYTES, Chunked, Head, HttpError, parse_head

log = logging.getLogger("ctbridge.intake.http")

_STALLED = 0.05  # seconds a handler job may run before the next one starts beside it
_LINGER = 2.0  # seconds an error answer waits for the client to stop sending before the close


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    payload: dict[str, str]
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    max_body: int
    header_timeout: float = 10.0  # from a request's first byte to the end of its headers
    body_timeout: float = 60.0  # from the end of the headers to the end of the body
    idle_timeout: float = 60.0  # keep-alive connection with no request
    max_connections: int = 1024
    handler_threads: int = 16


class Handler:
    """What the server asks of the intake. early() runs on the loop (cheap checks on the head);
    handle() in a pool thread; protocol_error() counts and logs protocol errors."""

    def early(self, head: Head, peer: str) -> Reply | None:
        raise NotImplementedError

    def handle(self, requests: list[tuple[Head, bytes, str]]) -> list[Reply]:
        """(head, body, peer) of several requests; a reply for each, in order."""
        raise NotImplementedError

    def protocol_error(self, status: int, reason: str, peer: str) -> None:
        raise NotImplementedError

    def tls_failed(self, peer: str, error: BaseException) -> None:
        raise NotImplementedError


_date_cache: tuple[int, str] = (0, "")


def _date() -> str:
    global _date_cache
    t = int(time.time())
    if _date_cache[0] != t:  # formatting costs more than the rest of a 200 answer
        _date_cache = (t, formatdate(t, usegmt=True))
    return _date_cache[1]


def response(status: int, payload: dict[str, str], close: bool, retry_after: str | None = None) -> bytes:
    body = orjson.dumps(payload)
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Server: ctbridge", f"Date: {_date()}",
            "Content-Type: application/json", f"Content-Length: {len(body)}"]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after}")
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _Conn(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.buf = bytearray()
        self.scanned = 0  # bytes of buf already searched for the end of the headers
        self.head: Head | None = None
        self.chunked: Chunked | None = None
        self.reject: Reply | None = None  # answer decided from the head; the body is read and dropped
        self.busy = False
        self.closing = False
        self.deadline = 0.0
        self.timeout_status = 0  # 408 when a request is under way at the deadline, 0: close silently
        self.eof = False  # the client shut its sending side

    # --- transport events ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else "?"
        self._idle()  # before any await: the sweeper must not take a fresh connection for expired
        s = self.server
        if self not in s.conns:  # not the second call that start_tls makes after the handshake
            s.conns.add(self)
            if len(s.conns) > s.limits.max_connections:
                s.handler.protocol_error(503, "too many connections", self.peer)
                self._fail(503, f"over {s.limits.max_connections} connections")
                return
            if s.ssl_ctx is not None:
                transport.pause_reading()  # the ClientHello must go to the TLS layer, not to us
                s.loop.create_task(self._start_tls(transport))
                return
        self._idle()

    async def _start_tls(self, raw: asyncio.Transport) -> None:
        s = self.server
        assert s.ssl_ctx is not None
        try:
            tls = await s.loop.start_tls(raw, self, s.ssl_ctx, server_side=True,
                                         ssl_handshake_timeout=s.limits.header_timeout)
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError) as e:
            s.handler.tls_failed(self.peer, e)
            raw.close()
            s.conns.discard(self)
            return
        if tls is None:  # the loop is shutting down
            raw.close()
            return
        self.transport = tls
        self._idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.conns.discard(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # lingering after an error answer: drop what the client still sends
        self.buf += data
        if self.busy and len(self.buf) > MAX_HEAD_BYTES and self.transport is not None:
            self.transport.pause_reading()  # a client sending ahead of our answers: let TCP hold it
            return
        try:
            self._advance()
        except HttpError as e:
            self.server.handler.protocol_error(e.status, e.reason, self.peer)
            self._fail(e.status, e.reason)

    def eof_received(self) -> bool | None:
        self.eof = True
        if self.busy:
            return True  # the client is done sending, not reading: answer, then close
        return None  # close our side too

    # --- request state machine -------------------------------------------------------------

    def _idle(self) -> None:
        self.deadline = self.server.loop.time() + self.server.limits.idle_timeout
        self.timeout_status = 0

    def _advance(self) -> None:
        while not self.busy and not self.closing:
            if self.head is None:
                if not self._read_head():
                    return
            assert self.head is not None
            body = self._read_body()
            if body is None:
                return
            head, self.head, self.chunked = self.head, None, None
            if self.reject is not None:
                reply, self.reject = self.reject, None
                self._answer(reply, close=not head.keep_alive)
                continue
            self.busy = True
            self.server.dispatch(self, head, body)

    def _read_head(self) -> bool:
        buf = self.buf
        while buf.startswith(b"\r\n"):  # RFC 9112 2.2: ignore empty lines before a request
            del buf[:2]
        if not buf:
            return False
        if self.timeout_status == 0:  # first byte of a request: the header clock starts
            self.deadline = self.server.loop.time() + self.server.limits.header_timeout
            self.timeout_status = 408
        end = buf.find(b"\r\n\r\n", max(0, self.scanned - 3))
        if end < 0:
            if len(buf) > MAX_HEAD_BYTES + 3:  # + a terminator that may have begun to arrive
                raise HttpError(431, f"request headers over {MAX_HEAD_BYTES} bytes")
            self.scanned = len(buf)
            return False
        if end > MAX_HEAD_BYTES:
            raise HttpError(431, f"request headers over {MAX_HEAD_BYTES} bytes")
        head = parse_head(bytes(buf[:end]))
        del buf[:end + 4]
        self.scanned = 0
        s = self.server
        self.reject = s.handler.early(head, self.peer)
        if head.length > s.limits.max_body:
            if self.reject is not None:
                self._answer(self.reject, close=True)
                return False
            raise HttpError(400, f"body of {head.length} bytes is over the {s.limits.max_body} byte limit "
                                 "(intake.max_body_bytes)")
        self.head = head
        self.chunked = Chunked(s.limits.max_body) if head.length < 0 else None
        self.deadline = s.loop.time() + s.limits.body_timeout
        if head.expect_continue and not buf:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _read_body(self) -> bytes | None:
        assert self.head is not None
        if self.chunked is not None:
            return self.chunked.feed(self.buf)
        n = self.head.length
        if len(self.buf) < n:
            return None
        body = bytes(self.buf[:n])
        del self.buf[:n]
        return body

    # --- answers ---------------------------------------------------------------------------

    def answered(self, reply: Reply, keep_alive: bool) -> None:
        """From the pool, via the loop: write the handler's answer and take the next request."""
        if self.closing:
            return
        self.busy = False
        self._answer(reply, close=not keep_alive or self.eof)
        if not self.closing:
            assert self.transport is not None
            self.transport.resume_reading()
            try:
                self._advance()
            except HttpError as e:
                self.server.handler.protocol_error(e.status, e.reason, self.peer)
                self._fail(e.status, e.reason)

    def _answer(self, reply: Reply, close: bool) -> None:
        assert self.transport is not None
        self.transport.write(response(reply.status, reply.payload, close, reply.retry_after))
        if close:
            self._linger()
        else:
            self._idle()

    def _fail(self, status: int, reason: str) -> None:
        assert self.transport is not None
        self.transport.write(response(status, {"error": reason}, close=True))
        self._linger()

    def _linger(self) -> None:
        """Stop reading requests but keep reading (and dropping) what the client still sends for a
        moment: closing with unread bytes sends a reset that can destroy our answer in flight."""
        assert self.transport is not None
        self.closing = True
        self.busy = False
        self.buf.clear()
        self.timeout_status = 0
        self.deadline = self.server.loop.time() + _LINGER
        if self.eof:  # nothing more will come: close once the answer is out
            self.transport.close()
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.transport.resume_reading()

    def expire(self, now: float) -> None:
        if self.transport is None or self.busy or now < self.deadline:
            return
        if self.closing or self.timeout_status == 0:
            self.transport.close()
            return
        reason = "request not complete in time"
        self.server.handler.protocol_error(408, reason, self.peer)
        self.transport.write(response(408, {"error": reason}, close=True))
        self.transport.close()


class Server:
    """Listens on (host, port) in its own thread; start() returns once the port is bound."""

    def __init__(self, host: str, port: int, handler: Handler, limits: Limits,
                 ssl_ctx: ssl.SSLContext | None = None, inline: bool = False) -> None:
        self.handler = handler
        self.inline = inline
        self.limits = limits
        self.ssl_ctx = ssl_ctx
        self.conns: set[_Conn] = set()
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
            self.sock.listen(128)  # the default 5 drops SYNs under a burst of connections
        except OSError:
            self.sock.close()
            raise
        self.port: int = self.sock.getsockname()[1]
        self.loop = asyncio.new_event_loop()  # after the bind: a port in use leaves nothing open
        self.pool = ThreadPoolExecutor(limits.handler_threads, thread_name_prefix="http-intake")
        self._pending: list[tuple[_Conn, Head, bytes]] = []
        self._running = 0  # jobs in the pool
        self._started: list[float] = []  # their start times, oldest first
        self._stall_check = False
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="http-intake", daemon=True)
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await self.loop.create_server(lambda: _Conn(self), sock=self.sock, backlog=128)
        tick = max(0.05, min(1.0, self.limits.header_timeout / 4, self.limits.idle_timeout / 4))
        self.loop.call_later(tick, self._sweep, tick)
        self._ready.set()
        await self._stopping.wait()
        server.close()
        for c in list(self.conns):
            if c.transport is not None:
                c.transport.abort()
        await server.wait_closed()
        for _ in range(3):  # let the transports run their connection_lost
            await asyncio.sleep(0)

    def _sweep(self, tick: float) -> None:
        now = self.loop.time()
        for c in list(self.conns):
            c.expire(now)
        self.loop.call_later(tick, self._sweep, tick)

    def dispatch(self, conn: _Conn, head: Head, body: bytes) -> None:
        self._pending.append((conn, head, body))
        if self._running == 0:
            if len(self._pending) == 1:
                self.loop.call_soon(self._flush)
        elif not self._stall_check:
            self._stall_check = True
            self.loop.call_later(_STALLED, self._unstall)

    def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        if self.inline:  # the handler never waits: run it here and save two thread switches a batch
            replies = self._handle([(head, body, conn.peer) for conn, head, body in batch])
            for (conn, head, _), reply in zip(batch, replies):
                conn.answered(reply, head.keep_alive)
            return
        self._running += 1
        started = self.loop.time()
        self._started.append(started)
        try:
            self.pool.submit(self._work, batch, started)
        except RuntimeError:  # the pool is shut down: we are stopping
            for conn, _, _ in batch:
                if conn.transport is not None:
                    conn.transport.abort()

    def _unstall(self) -> None:
        """A job that runs long (a handler holding requests while a queue is full) must not hold
        up requests for other destinations: start the next job beside it, up to the pool size."""
        self._stall_check = False
        if not self._pending:
            return
        if self._running == 0 or (self._running < self.limits.handler_threads
                                  and self.loop.time() - self._started[0] >= _STALLED):
            self._flush()
        self._stall_check = True
        self.loop.call_later(_STALLED, self._unstall)

    def _work(self, batch: list[tuple[_Conn, Head, bytes]], started: float) -> None:
        replies = self._handle([(head, body, conn.peer) for conn, head, body in batch])
        done = [(conn, reply, head.keep_alive) for (conn, head, _), reply in zip(batch, replies)]
        try:
            self.loop.call_soon_threadsafe(self._deliver, done, started)
        except RuntimeError:
            pass  # the loop closed while we worked (stop): the connections are gone anyway

    def _handle(self, requests: list[tuple[Head, bytes, str]]) -> list[Reply]:
        try:
            return self.handler.handle(requests)
        except Exception:  # the handler answers its own errors; this keeps a bug from hanging clients
            log.exception("intake handler failed")
            return [Reply(500, {"error": "intake handler failed; see the bridge log"})] * len(requests)

    def _deliver(self, done: list[tuple[_Conn, Reply, bool]], started: float) -> None:
        self._running -= 1
        self._started.remove(started)
        for conn, reply, keep in done:
            conn.answered(reply, keep)
        if self._running == 0:
            self._flush()

    def stop(self) -> None:
        stopping = self._stopping
        if stopping is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:
                pass
        self._thread.join(timeout=10)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.sock.close()
