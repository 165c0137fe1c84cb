"""The bridge end of the ingest protocol: batches records to the ctbridge plugin's unix socket,
bounds what is in flight, reconnects and resends what the plugin has not received."""

from __future__ import annotations

import socket
import struct
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from bridge.deliver import protocol as p
from bridge.errors import ConfigError, DeliveryError, InputError, ProtocolError
from bridge.model import Record

_BACKOFF_START = 0.1
_BACKOFF_MAX = 5.0
# A frame carries type + 12-byte batch header + 12 bytes per record; one record must always fit.
_MAX_RECORD_IN_FRAME = p.MAX_FRAME_LEN - 1 - 12 - 12
_MAX_BATCH_BYTES = 48 << 20


@dataclass(slots=True)
class ClientStats:
    records_sent: int = 0
    batches_sent: int = 0
    batches_acked: int = 0
    reconnects: int = 0
    resent_batches: int = 0


@dataclass(slots=True)
class _Pending:
    seq: int
    frame: bytearray
    count: int
    sealed: int  # records sealed so far, this batch's included (the on_seal key)


class _Connection:
    """One connected socket and the thread reading ACK/BYE/ERROR from it."""

    def __init__(self, sock: socket.socket, reader: p.FrameReader) -> None:
        self.sock = sock
        self.reader = reader
        self.thread: threading.Thread | None = None
        self.dead = False  # set by the reader thread when the connection is gone
        self.why = ""
        self.error: p.Error | None = None
        self.bye: int | None = None

    def shut(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already disconnected
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()
        self.sock.close()


class PluginClient:
    """Sends Records to the plugin listening on `path`.

    on_ack(n) is called with the total number of records the plugin has acknowledged so far
    (in send order), always from the thread calling send/flush/finish/poll_acks, never from
    the reader thread; so a caller may commit checkpoints from it (e.g. SQLite).

    on_seal(seq, instance_id, sealed) is called from the same threads when a batch gets its seq,
    before any of its bytes are sent: `sealed` is the number of records sealed so far, the
    batch's last included. It is called again (same `sealed`) when a new plugin instance makes
    a pending batch be sent under a new seq. A caller journals it (bridge.deliver.journal) so
    that after a crash WELCOME's last_seq tells which records the plugin already holds.
    """

    def __init__(
        self,
        path: str,
        *,
        window: int = 8,
        batch_events: int = 512,
        batch_bytes: int = 4 << 20,
        connect_timeout: float = 30.0,
        name: str = "ctbridge",
        on_ack: Callable[[int], None] | None = None,
        on_seal: Callable[[int, int, int], None] | None = None,
    ) -> None:
        if window < 1:
            raise ConfigError(f"deliver window must be >= 1, got {window}")
        if batch_events < 1:
            raise ConfigError(f"deliver batch_events must be >= 1, got {batch_events}")
        if not 1024 <= batch_bytes <= _MAX_BATCH_BYTES:
            raise ConfigError(f"deliver batch_bytes must be 1024..{_MAX_BATCH_BYTES}, got {batch_bytes}")
        self.path = path
        self.window = window
        self.batch_events = batch_events
        self.batch_bytes = batch_bytes
        self.connect_timeout = connect_timeout
        self.name = name
        self.on_ack = on_ack
        self.on_seal = on_seal
        self.stats = ClientStats()
        self.instance_id: int | None = None  # from the last WELCOME
        self.welcome_last_seq = 0  # from the last WELCOME: the highest batch the plugin holds
        self._max_events = batch_events
        self._max_record = _MAX_RECORD_IN_FRAME
        self._next_seq = 1
        self._builder = p.BatchBuilder()
        self._pending: deque[_Pending] = deque()  # sent, not yet acknowledged; guarded by _cond
        self._acked_records = 0  # guarded by _cond
        self._sealed_records = 0
        self._reported_records = 0
        self._cond = threading.Condition()
        self._conn: _Connection | None = None
        self._closed = False

    # -- public API -------------------------------------------------------------------------

    def connect(self) -> None:
        """Connects (retrying with backoff until connect_timeout), handshakes and resends
        whatever the plugin has not received."""
        if self._closed:
            raise DeliveryError(f"plugin client for {self.path} is closed")
        if self._conn is not None and not self._conn.dead:
            return
        deadline = time.monotonic() + self.connect_timeout
        delay = _BACKOFF_START
        while True:
            try:
                conn, welcome = self._handshake(deadline)
                break
            except (OSError, _Busy) as e:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeliveryError(
                        f"cannot connect to the ctbridge plugin at {self.path} within "
                        f"{self.connect_timeout:g}s: {_describe(e)}"
                    ) from None
                time.sleep(min(delay, left))
                delay = min(delay * 2, _BACKOFF_MAX)
        self._adopt(conn, welcome)

    def send(self, record: Record) -> None:
        """Queues one record; sends a batch when it is full. Blocks while `window` batches are
        unacknowledged. A record above the plugin's limit raises InputError naming its origin."""
        if self._conn is None:
            self.connect()
        size = len(record.raw)
        if size > self._max_record:
            raise InputError(
                f"{record.origin}: record is {size} bytes, the plugin accepts at most {self._max_record}"
            )
        if self._builder.count and self._builder.nbytes + 12 + size > self.batch_bytes:
            self._send_batch()
        try:
            self._builder.add(record.ts_ns, record.raw)
        except struct.error:
            raise InputError(f"{record.origin}: ts_ns {record.ts_ns} is outside 0..2**64-1") from None
        if self._builder.count >= self._max_events:
            self._send_batch()
        if self._acked_records != self._reported_records:
            self._report_acks()

    def send_packed(self, data: bytes, ends: Sequence[int], skip: Sequence[int] = ()) -> int:
        """Queues records already laid out as BATCH entries (bridge.deliver.packed): entry i is
        data[ends[i-1]:ends[i]]; the entries whose indexes are in `skip` (sorted) are left out.
        Runs of entries are copied into batches as byte ranges, cut by batch_events and
        batch_bytes exactly as send() would. The caller has checked every record against
        max_record_bytes. Returns the number of records queued."""
        if self._conn is None:
            self.connect()
        mv = memoryview(data)
        n = len(ends)
        queued = 0
        i = 0
        for stop in [*skip, n]:
            while i < stop:
                b = self._builder
                if b.count >= self._max_events:
                    self._send_batch()
                    continue
                base = ends[i - 1] if i else 0
                # As many entries as fit: by count, then by bytes (ends is increasing: bisect).
                j = min(stop, i + self._max_events - b.count)
                room = self.batch_bytes - b.nbytes
                if ends[j - 1] - base > room:
                    j = bisect_right(ends, base + room, i, j)
                    if j == i:
                        if b.count:
                            self._send_batch()
                            continue
                        j = i + 1  # one record bigger than batch_bytes goes alone, as in send()
                b.add_entries(mv[base:ends[j - 1]], j - i)
                queued += j - i
                i = j
                if b.count >= self._max_events:
                    self._send_batch()
            i = stop + 1
        if self._acked_records != self._reported_records:
            self._report_acks()
        return queued

    @property
    def max_record_bytes(self) -> int:
        """The longest record the plugin accepts (known after connect())."""
        return self._max_record

    def flush(self) -> None:
        """Sends the partly filled batch, if any."""
        if self._builder.count:
            if self._conn is None:
                self.connect()
            self._send_batch()
        self._report_acks()

    def poll_acks(self, reconnect_within: float = 2.0) -> None:
        """Runs on_ack for ACKs that arrived since the last call (for callers that sit idle). If
        the link dropped while batches await their ACK, tries (for up to reconnect_within
        seconds) to reconnect and resend them: with nothing more to send, nothing else would,
        and a caller waiting for those ACKs would wait forever."""
        conn = self._conn
        if not self._closed and (conn is None or conn.dead) and self.unacked_batches:
            self._try_reconnect(reconnect_within)
        self._report_acks()

    def wait_acked(self, timeout: float = 60.0) -> None:
        """Flushes and waits until the plugin has acknowledged every batch (Falco took every
        record), without ending the stream; reconnects and resends if the link drops."""
        self.flush()
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                conn = self._conn
                while conn is not None and not conn.dead and self._pending:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise DeliveryError(
                            f"the ctbridge plugin at {self.path} did not acknowledge {len(self._pending)} "
                            f"batches within {timeout:g}s"
                        )
                    self._cond.wait(left)
                if not self._pending:
                    break
            self._reconnect()
        self._report_acks()

    def finish(self, timeout: float = 60.0) -> int:
        """Flushes, sends END, waits for every ACK and BYE; returns BYE's last_seq."""
        self.flush()
        if self._conn is None:
            self.connect()
        deadline = time.monotonic() + timeout
        self._send_raw(p.encode_end())
        while True:
            with self._cond:
                conn = self._conn
                assert conn is not None
                while not conn.dead and conn.bye is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise DeliveryError(
                            f"the ctbridge plugin at {self.path} did not confirm the end of stream within "
                            f"{timeout:g}s ({len(self._pending)} batches unacknowledged)"
                        )
                    self._cond.wait(left)
                bye, unacked = conn.bye, len(self._pending)
            if bye is not None:
                break
            self._reconnect()
            self._send_raw(p.encode_end())
        self._report_acks()
        assert bye is not None
        if unacked:
            raise DeliveryError(
                f"the ctbridge plugin at {self.path} said BYE {bye} with {unacked} batches unacknowledged"
            )
        self.close()
        return bye

    def close(self) -> None:
        """Closes the connection without END; unacknowledged batches are dropped."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.shut()

    def __enter__(self) -> PluginClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def unacked_batches(self) -> int:
        with self._cond:
            return len(self._pending)

    # -- internals --------------------------------------------------------------------------

    def _handshake(self, deadline: float) -> tuple[_Connection, p.Welcome]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(0.05, min(10.0, deadline - time.monotonic())))
            sock.connect(self.path)
            reader = p.FrameReader(sock)
            try:
                sock.sendall(p.encode_hello(self.name))
            except OSError:
                pass  # a refusing plugin may close at once; its ERROR frame is still readable
            frame = reader.read()
            if isinstance(frame, p.Error):
                if frame.code == p.ErrorCode.BUSY:
                    raise _Busy(frame.message)
                raise DeliveryError(
                    f"the ctbridge plugin at {self.path} refused the connection: "
                    f"ERROR {frame.code} {frame.message}"
                )
            if frame is None:
                raise ConnectionResetError("closed before WELCOME")
            if not isinstance(frame, p.Welcome):
                raise ProtocolError(f"{self.path}: expected WELCOME, got {type(frame).__name__}")
            if frame.version != p.VERSION:
                raise DeliveryError(f"{self.path}: plugin speaks protocol {frame.version}, bridge speaks {p.VERSION}")
            sock.settimeout(None)
            return _Connection(sock, reader), frame
        except BaseException:
            sock.close()
            raise

    def _adopt(self, conn: _Connection, w: p.Welcome) -> None:
        """Takes a fresh connection into use and resends what the plugin lacks."""
        same_instance = self.instance_id == w.instance_id
        self.instance_id = w.instance_id
        self.welcome_last_seq = w.last_seq
        if w.max_batch_events:
            self._max_events = min(self.batch_events, w.max_batch_events)
        if w.max_record_bytes:
            self._max_record = min(w.max_record_bytes, _MAX_RECORD_IN_FRAME)
        with self._cond:
            resend = [b for b in self._pending if not same_instance or b.seq > w.last_seq]
            # A restarted plugin fed by someone else may be past our numbers; duplicates would be dropped.
            if not same_instance and resend and resend[0].seq <= w.last_seq:
                seq = w.last_seq + 1
                for b in resend:
                    b.seq = seq
                    p.set_batch_seq(b.frame, seq)
                    seq += 1
            last = self._pending[-1].seq if self._pending else 0
            self._next_seq = max(self._next_seq, w.last_seq + 1, last + 1)
            self._conn = conn
        if not same_instance and self.on_seal is not None:
            for b in resend:  # journalled for the old instance: the new one is what counts now
                self.on_seal(b.seq, w.instance_id, b.sealed)
        conn.thread = threading.Thread(target=self._read_loop, args=(conn,), name="ctbridge-acks", daemon=True)
        conn.thread.start()
        for b in resend:
            if not self._send_raw_once(b.frame):
                return  # lost again; the next operation reconnects and resends
            self.stats.resent_batches += 1

    def _reconnect(self) -> None:
        conn = self._conn
        if conn is not None:
            if conn.error is not None:
                raise DeliveryError(
                    f"the ctbridge plugin at {self.path} closed the stream: "
                    f"ERROR {conn.error.code} {conn.error.message}"
                )
            conn.shut()
            self._conn = None
        self.stats.reconnects += 1
        self.connect()

    def _try_reconnect(self, within: float) -> None:
        """One bounded reconnect attempt (the next call tries again); an ERROR is still fatal."""
        conn = self._conn
        if conn is not None:
            if conn.error is not None:
                self._reconnect()  # raises the plugin's ERROR
            conn.shut()
            self._conn = None
        try:
            new, welcome = self._handshake(time.monotonic() + within)
        except (OSError, _Busy):
            return
        self.stats.reconnects += 1
        self._adopt(new, welcome)

    def _send_batch(self) -> None:
        count = self._builder.count
        frame = self._builder.seal(0)  # numbered below, once it has a place in the window
        while True:
            with self._cond:
                conn = self._conn
                while conn is not None and not conn.dead and len(self._pending) >= self.window:
                    self._cond.wait()
                if conn is not None and not conn.dead:
                    batch = _Pending(self._next_seq, frame, count, self._sealed_records + count)
                    p.set_batch_seq(frame, batch.seq)
                    self._next_seq += 1
                    self._pending.append(batch)
                    self._sealed_records += count
                    instance = self.instance_id
                    break
            self._reconnect()
        if self.on_seal is not None:
            assert instance is not None  # set by the WELCOME of the connection it joined
            self.on_seal(batch.seq, instance, batch.sealed)
        self.stats.batches_sent += 1
        self.stats.records_sent += count
        if not self._send_raw_once(frame):
            self._reconnect()  # resends it with the rest

    def _send_raw(self, data: bytes | bytearray) -> None:
        while True:
            if self._conn is None or self._conn.dead:
                self._reconnect()
            if self._send_raw_once(data):
                return

    def _send_raw_once(self, data: bytes | bytearray) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            conn.sock.sendall(data)
            return True
        except OSError as e:
            with self._cond:
                if not conn.dead:
                    conn.dead, conn.why = True, _describe(e)
                self._cond.notify_all()
            return False

    def _read_loop(self, conn: _Connection) -> None:
        why = "closed by the plugin"
        try:
            while True:
                frame = conn.reader.read()
                if frame is None:
                    break
                if isinstance(frame, p.Ack):
                    self._on_ack(frame.seq)
                elif isinstance(frame, p.Bye):
                    with self._cond:
                        conn.bye = frame.last_seq
                        self._cond.notify_all()
                elif isinstance(frame, p.Error):
                    conn.error = frame
                    why = f"ERROR {frame.code} {frame.message}"
                    break
                else:
                    why = f"unexpected {type(frame).__name__} frame from the plugin"
                    break
        except (OSError, ProtocolError) as e:
            why = _describe(e)
        with self._cond:
            conn.dead = True
            conn.why = conn.why or why
            self._cond.notify_all()

    def _on_ack(self, seq: int) -> None:
        with self._cond:
            while self._pending and self._pending[0].seq <= seq:
                done = self._pending.popleft()
                self._acked_records += done.count
                self.stats.batches_acked += 1
            self._cond.notify_all()

    def _report_acks(self) -> None:
        with self._cond:
            acked = self._acked_records
        if acked != self._reported_records:
            self._reported_records = acked
            if self.on_ack is not None:
                self.on_ack(acked)


class _Busy(Exception):
    """The plugin serves another client; retried like a refused connection."""


def _describe(e: BaseException) -> str:
    if isinstance(e, _Busy):
        return f"plugin busy ({e})"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
