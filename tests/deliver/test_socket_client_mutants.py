"""PluginClient (bridge/deliver/socket_client.py) where mutation testing found it untested: the
settings' bounds, the record and batch size limits at their exact boundary (send and
send_packed), WELCOME's limits, ACKs reported on the next send, poll_acks' reconnect, a
restarted plugin that is ahead of our numbers, and the handshake's refusals.

The plugin end is tests/deliver/test_socket_client.py's StandInPlugin (the real ctbridge plugin
is covered by tests/deliver/test_plugin_socket.py); the handshake refusals use `ScriptedPeer`,
a stand-in for the same plugin that answers HELLO with given bytes (the real plugin's own
refusals are in tests/deliver/test_plugin_socket.py and the plugin's ctest suite)."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable

import pytest
from test_socket_client import StandInPlugin, plugin, rec, sent_ids, sock_path  # noqa: F401 (fixtures)

from bridge.deliver import protocol as p
from bridge.deliver.socket_client import ClientStats, PluginClient
from bridge.errors import ConfigError, DeliveryError, InputError
from bridge.model import Record

# One BATCH entry: ts_ns (u64), length (u32), the record's bytes (docs/ingest-protocol.md).
_ENTRY = struct.Struct("<QI")
# An empty BATCH frame: 5-byte frame header + 12-byte batch header.
_EMPTY_BATCH = 17


def until(cond: Callable[[], bool], what: str, seconds: float = 30) -> None:
    """Polls cond (a generous deadline, only so that a broken client fails instead of hanging)."""
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def sized(i: int, size: int) -> Record:
    """A record of exactly `size` bytes."""
    head = b'{"eventID":"%d","pad":"' % i
    raw = head + b"x" * (size - len(head) - 2) + b'"}'
    assert len(raw) == size
    return Record(raw=raw, ts_ns=1_700_000_000_000_000_000 + i, origin=f"test.json#{i}")


def packed(records: list[Record]) -> tuple[bytes, list[int]]:
    data = bytearray()
    ends = []
    for r in records:
        data += _ENTRY.pack(r.ts_ns, len(r.raw)) + r.raw
        ends.append(len(data))
    return bytes(data), ends


# --- settings ----------------------------------------------------------------------------------------

def test_settings_at_and_beyond_their_bounds(sock_path: str) -> None:
    PluginClient(sock_path, window=1, batch_events=1, batch_bytes=1024)
    PluginClient(sock_path, batch_bytes=48 << 20)
    with pytest.raises(ConfigError, match=r"^deliver window must be >= 1, got 0$"):
        PluginClient(sock_path, window=0)
    with pytest.raises(ConfigError, match=r"^deliver batch_events must be >= 1, got 0$"):
        PluginClient(sock_path, batch_events=0)
    for bad in (1023, (48 << 20) + 1):
        with pytest.raises(ConfigError, match=rf"^deliver batch_bytes must be 1024\.\.50331648, got {bad}$"):
            PluginClient(sock_path, batch_bytes=bad)


def test_defaults_the_cli_relies_on(sock_path: str) -> None:
    # bridge/app.py builds its clients with these defaults.
    c = PluginClient(sock_path)
    settings = (c.window, c.batch_events, c.batch_bytes, c.connect_timeout, c.name)
    assert settings == (8, 512, 4 << 20, 30.0, "ctbridge")
    assert (c.instance_id, c.welcome_last_seq, c.unacked_batches) == (None, 0, 0)


def test_hello_carries_the_name(sock_path: str) -> None:
    peer = ScriptedPeer(sock_path, p.encode_error(p.ErrorCode.MALFORMED, "just looking"))
    try:
        for client in (PluginClient(sock_path), PluginClient(sock_path, name="replay-7")):
            with pytest.raises(DeliveryError):
                client.connect()
        assert peer.names == ["ctbridge", "replay-7"]
    finally:
        peer.close()


def test_close_ends_the_reader_thread(plugin: StandInPlugin, sock_path: str) -> None:
    before = set(threading.enumerate())
    client = PluginClient(sock_path)
    client.connect()
    readers = [t for t in threading.enumerate() if t not in before and t.name == "ctbridge-acks"]
    assert len(readers) == 1 and readers[0].daemon
    client.close()
    assert not readers[0].is_alive()  # joined by close()


def test_stats_start_at_zero() -> None:
    s = ClientStats()
    assert s == ClientStats(0, 0, 0, 0, 0)
    assert (s.records_sent, s.batches_sent, s.batches_acked, s.reconnects, s.resent_batches) == (0,) * 5
    with pytest.raises(AttributeError):
        s.other = 1  # type: ignore[attr-defined]


def test_the_largest_record_is_what_one_frame_holds(sock_path: str) -> None:
    # type byte + 12-byte batch header + 12-byte record header + the record: one frame at most.
    assert PluginClient(sock_path).max_record_bytes == p.MAX_FRAME_LEN - 1 - 12 - 12


@pytest.mark.parametrize(("announced", "expected"), [
    (0, p.MAX_FRAME_LEN - 25),  # 0: no limit of the plugin's own
    (200, 200),
    (0xFFFFFFFF, p.MAX_FRAME_LEN - 25),  # never above what a frame holds
])
def test_welcome_max_record_bytes(sock_path: str, announced: int, expected: int) -> None:
    srv = StandInPlugin(sock_path, max_record_bytes=announced)
    try:
        client = PluginClient(sock_path)
        client.connect()
        assert client.max_record_bytes == expected
        client.close()
    finally:
        srv.close()


def test_welcome_max_batch_events_zero_leaves_ours(sock_path: str) -> None:
    srv = StandInPlugin(sock_path, max_batch_events=0)
    try:
        client = PluginClient(sock_path, batch_events=4)
        for i in range(10):
            client.send(rec(i))
        client.finish(timeout=30)
        assert srv.batch_sizes == [4, 4, 2]
    finally:
        srv.close()


def test_welcome_max_batch_events_above_ours_leaves_ours(sock_path: str) -> None:
    srv = StandInPlugin(sock_path, max_batch_events=100)
    try:
        client = PluginClient(sock_path, batch_events=3)
        for i in range(7):
            client.send(rec(i))
        client.finish(timeout=30)
        assert srv.batch_sizes == [3, 3, 1]
    finally:
        srv.close()


# --- sizes at their boundary -------------------------------------------------------------------------

def test_a_record_of_exactly_the_plugins_limit_passes(sock_path: str) -> None:
    srv = StandInPlugin(sock_path, max_record_bytes=200)
    try:
        client = PluginClient(sock_path)
        client.send(sized(0, 200))
        too_big = r"^test\.json#1: record is 201 bytes, the plugin accepts at most 200$"
        with pytest.raises(InputError, match=too_big):
            client.send(sized(1, 201))
        client.finish(timeout=30)
        assert sent_ids(srv) == [0]
    finally:
        srv.close()


def records_filling(batch_bytes: int, extra: int) -> list[Record]:
    """Two records that fill a batch of batch_bytes exactly (extra=0) or by extra bytes more,
    then a small one."""
    room = batch_bytes - _EMPTY_BATCH - 2 * _ENTRY.size + extra
    return [sized(0, room // 2), sized(1, room - room // 2), sized(2, 40)]


@pytest.mark.parametrize(("extra", "sizes"), [(0, [2, 1]), (1, [1, 2]), (-1, [2, 1])])
def test_batch_bytes_is_a_limit_reached_not_passed(plugin: StandInPlugin, sock_path: str, extra: int,
                                                   sizes: list[int]) -> None:
    client = PluginClient(sock_path, batch_bytes=1024)
    for r in records_filling(1024, extra):
        client.send(r)
    client.finish(timeout=30)
    assert plugin.batch_sizes == sizes and sent_ids(plugin) == [0, 1, 2]


@pytest.mark.parametrize(("extra", "sizes"), [(0, [2, 1]), (1, [1, 2]), (-1, [2, 1])])
def test_send_packed_cuts_by_bytes_as_send_does(plugin: StandInPlugin, sock_path: str, extra: int,
                                                sizes: list[int]) -> None:
    client = PluginClient(sock_path, batch_bytes=1024)
    data, ends = packed(records_filling(1024, extra))
    assert client.send_packed(data, ends) == 3
    client.finish(timeout=30)
    assert plugin.batch_sizes == sizes and sent_ids(plugin) == [0, 1, 2]
    assert plugin.records[2][1] == sized(2, 40).raw


def test_send_packed_a_record_bigger_than_batch_bytes_goes_alone(plugin: StandInPlugin,
                                                                   sock_path: str) -> None:
    recs = [sized(0, 100), sized(1, 3000), sized(2, 100), sized(3, 3000), sized(4, 3000)]
    client = PluginClient(sock_path, batch_bytes=1024)
    data, ends = packed(recs)
    assert client.send_packed(data, ends) == 5
    client.finish(timeout=30)
    assert plugin.batch_sizes == [1, 1, 1, 1, 1]
    assert plugin.records == [(r.ts_ns, r.raw) for r in recs]


def test_send_packed_skips_and_counts(plugin: StandInPlugin, sock_path: str) -> None:
    recs = [rec(i) for i in range(12)]
    client = PluginClient(sock_path, batch_events=4)
    data, ends = packed(recs)
    assert client.send_packed(data, ends, [0, 5, 6, 11]) == 8
    assert client.send_packed(data, ends, list(range(12))) == 0
    client.finish(timeout=30)
    assert sent_ids(plugin) == [1, 2, 3, 4, 7, 8, 9, 10]
    assert plugin.batch_sizes == [4, 4]


def test_send_packed_continues_a_partly_filled_batch(plugin: StandInPlugin, sock_path: str) -> None:
    client = PluginClient(sock_path, batch_events=5)
    client.send(rec(0))
    client.send(rec(1))
    data, ends = packed([rec(i) for i in range(2, 14)])
    assert client.send_packed(data, ends) == 12
    client.finish(timeout=30)
    assert plugin.batch_sizes == [5, 5, 4] and sent_ids(plugin) == list(range(14))


def test_ts_ns_outside_u64_is_refused_and_nothing_is_half_added(plugin: StandInPlugin,
                                                                 sock_path: str) -> None:
    client = PluginClient(sock_path, batch_events=2)
    client.send(rec(0))
    for ts in (-1, 2**64):
        bad = Record(raw=b"{}", ts_ns=ts, origin="f.json#9")
        with pytest.raises(InputError, match=rf"^f\.json#9: ts_ns {ts} is outside 0\.\.2\*\*64-1$"):
            client.send(bad)
    client.send(rec(1))
    client.finish(timeout=30)
    assert sent_ids(plugin) == [0, 1] and plugin.batch_sizes == [2]


# --- ACKs, reconnects -----------------------------------------------------------------------------

def test_acks_are_reported_by_the_next_send(plugin: StandInPlugin, sock_path: str) -> None:
    acks: list[int] = []
    threads: set[threading.Thread] = set()

    def on_ack(n: int) -> None:
        acks.append(n)
        threads.add(threading.current_thread())

    client = PluginClient(sock_path, batch_events=3, on_ack=on_ack)
    plugin.hold_acks.set()  # the ACK must come after the send that filled batch 1 has returned
    for i in range(3):
        client.send(rec(i))
    until(lambda: len(plugin.records) == 3, "batch 1 at the plugin")
    plugin.release_acks()
    until(lambda: client.unacked_batches == 0, "the ACK of batch 1")
    assert acks == []  # read by the reader thread, reported by the next call, not from there
    client.send(rec(3))  # a partial batch: nothing sent, the ACK reported
    assert acks == [3]
    data, ends = packed([rec(i) for i in range(4, 6)])
    client.send_packed(data, ends)  # fills the batch: sent
    until(lambda: client.unacked_batches == 0, "the ACK of batch 2")
    client.send_packed(data, ends, [0, 1])  # nothing queued, the ACK reported
    assert acks == [3, 6]
    client.finish(timeout=30)
    stats = client.stats
    assert (stats.batches_acked, stats.batches_sent, stats.records_sent) == (2, 2, 6)
    assert threads == {threading.current_thread()}


def test_connect_twice_is_one_connection_and_a_closed_client_stays_closed(plugin: StandInPlugin,
                                                                          sock_path: str) -> None:
    client = PluginClient(sock_path)
    client.connect()
    client.connect()
    assert plugin.connections == 1
    client.close()
    with pytest.raises(DeliveryError, match=rf"^plugin client for {sock_path} is closed$"):
        client.connect()
    client.close()


def test_poll_acks_reconnects_and_resends_to_a_restarted_plugin(plugin: StandInPlugin,
                                                                 sock_path: str) -> None:
    acks: list[int] = []
    client = PluginClient(sock_path, batch_events=5, on_ack=acks.append)
    plugin.hold_acks.set()
    for i in range(5):
        client.send(rec(i))
    until(lambda: len(plugin.records) == 5, "batch 1 at the plugin")
    client.poll_acks()  # connected, nothing acknowledged: nothing to do
    assert client.stats.reconnects == 0 and acks == []
    plugin.restart()  # batch 1 lost with the old instance
    plugin.hold_acks.clear()

    def polled() -> bool:
        client.poll_acks(reconnect_within=5)
        return acks == [5]

    until(polled, "batch 1 resent and acknowledged")
    assert client.stats.reconnects == 1 and client.stats.resent_batches == 1
    assert sent_ids(plugin) == [0, 1, 2, 3, 4] and plugin.connections == 2
    client.finish(timeout=30)


def test_poll_acks_with_no_plugin_gives_up_quietly(sock_path: str) -> None:
    srv = StandInPlugin(sock_path)
    client = PluginClient(sock_path, batch_events=1)
    srv.hold_acks.set()
    client.send(rec(0))
    until(lambda: len(srv.records) == 1, "the batch at the plugin")
    srv.close()
    os.unlink(sock_path)
    client.poll_acks(reconnect_within=0.2)  # nothing to connect to: no exception, tried again later
    client.poll_acks(reconnect_within=0.2)
    assert client.unacked_batches == 1 and client.stats.reconnects == 0
    srv = StandInPlugin(sock_path)  # a new instance: the batch is resent to it
    try:
        def resent() -> bool:
            client.poll_acks(reconnect_within=5)
            return client.unacked_batches == 0

        until(resent, "the resend")
        assert sent_ids(srv) == [0] and client.stats.reconnects == 1
        client.finish(timeout=30)
    finally:
        srv.close()


def test_poll_acks_after_an_error_raises_it(plugin: StandInPlugin, sock_path: str) -> None:
    plugin.error_on_batch = (1, "no thanks")
    client = PluginClient(sock_path, batch_events=1)
    client.send(rec(0))

    def raised() -> bool:
        try:
            client.poll_acks(reconnect_within=1)
        except DeliveryError as e:
            assert str(e) == f"the ctbridge plugin at {sock_path} closed the stream: ERROR 5 no thanks"
            return True
        return False

    until(raised, "the ERROR")
    client.close()


def test_a_restarted_plugin_ahead_of_our_numbers_gets_them_renumbered(plugin: StandInPlugin,
                                                                        sock_path: str) -> None:
    seals: list[tuple[int, int, int]] = []
    client = PluginClient(sock_path, batch_events=5, window=8, on_seal=lambda *a: seals.append(a))
    plugin.hold_acks.set()
    for i in range(10):
        client.send(rec(i))
    until(lambda: len(plugin.records) == 10, "batches 1 and 2 at the plugin")
    plugin.restart()
    with plugin._lock:
        plugin.last_seq = 100  # another client fed the new instance up to 100
    plugin.hold_acks.clear()
    client.wait_acked(timeout=30)
    assert plugin.seqs_seen[-2:] == [101, 102]
    assert seals == [(1, 1, 5), (2, 1, 10), (101, 2, 5), (102, 2, 10)]
    assert client.instance_id == 2 and client.welcome_last_seq == 100
    client.send(rec(10))
    client.flush()
    client.wait_acked(timeout=30)
    assert plugin.seqs_seen[-1] == 103 and seals[-1] == (103, 2, 11)
    assert sent_ids(plugin) == list(range(11))
    assert client.finish(timeout=30) == 103


def test_a_plugin_restarted_behind_our_numbers_keeps_them(plugin: StandInPlugin, sock_path: str) -> None:
    client = PluginClient(sock_path, batch_events=5, window=8)
    for i in range(10):
        client.send(rec(i))
    client.wait_acked(timeout=30)  # seqs 1, 2 acknowledged
    plugin.restart()  # last_seq 0
    client.send(rec(10))
    client.flush()
    client.wait_acked(timeout=30)
    assert plugin.seqs_seen == [1, 2, 3]  # numbers go on from ours, not from the plugin's 0
    assert client.welcome_last_seq == 0 and client.finish(timeout=30) == 3


# --- the handshake ----------------------------------------------------------------------------------

class ScriptedPeer:
    """Stands in for the ctbridge plugin's handshake (the real one: tests/deliver/test_plugin_socket.py):
    reads HELLO and answers with `answer`, then closes (or with keep_open, waits for the client to);
    for every connection, one at a time."""

    def __init__(self, path: str, answer: bytes, keep_open: bool = False) -> None:
        self.answer = answer
        self.keep_open = keep_open  # after the answer, read (and drop) until the client closes
        self.hellos = 0
        self.names: list[str] = []
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._srv.bind(path)
        self._srv.listen(4)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return
            with conn:
                try:
                    hello = p.FrameReader(conn).read()
                    if isinstance(hello, p.Hello):
                        self.hellos += 1
                        self.names.append(hello.name)
                    conn.sendall(self.answer)
                    while self.keep_open and conn.recv(65536):
                        pass
                except OSError:
                    pass

    def close(self) -> None:
        self._srv.shutdown(socket.SHUT_RDWR)
        self._srv.close()
        self._thread.join(10)


@pytest.mark.parametrize(("answer", "message"), [
    (p.encode_welcome(p.Welcome(2, 1, 0, 0, 0)), "plugin speaks protocol 2, bridge speaks 1"),
    (p.encode_ack(1), "expected WELCOME, got Ack"),
])
def test_a_wrong_welcome_is_refused_at_once(sock_path: str, answer: bytes, message: str) -> None:
    peer = ScriptedPeer(sock_path, answer)
    try:
        client = PluginClient(sock_path, connect_timeout=30)
        with pytest.raises(Exception, match=message):
            client.connect()
        assert peer.hellos == 1  # not retried
    finally:
        peer.close()


def test_a_peer_closing_before_welcome_is_retried_until_the_timeout(sock_path: str) -> None:
    peer = ScriptedPeer(sock_path, b"")
    try:
        client = PluginClient(sock_path, connect_timeout=0.3)
        with pytest.raises(DeliveryError) as e:
            client.connect()
        assert str(e.value) == (f"cannot connect to the ctbridge plugin at {sock_path} within 0.3s: "
                                "ConnectionResetError: closed before WELCOME")
        assert peer.hellos >= 1
    finally:
        peer.close()


def test_busy_and_missing_plugins_are_described(sock_path: str) -> None:
    client = PluginClient(sock_path, connect_timeout=0.2)
    with pytest.raises(DeliveryError, match=r"within 0\.2s: FileNotFoundError: \[Errno 2\]"):
        client.connect()
    peer = ScriptedPeer(sock_path, p.encode_error(p.ErrorCode.BUSY, "in use"))
    try:
        with pytest.raises(DeliveryError, match=r"within 0\.2s: plugin busy \(in use\)$"):
            client.connect()
    finally:
        peer.close()


def test_a_refusal_other_than_busy_names_the_error(sock_path: str) -> None:
    peer = ScriptedPeer(sock_path, p.encode_error(p.ErrorCode.MALFORMED, "bad hello"))
    try:
        with pytest.raises(DeliveryError) as e:
            PluginClient(sock_path, connect_timeout=30).connect()
        assert str(e.value) == f"the ctbridge plugin at {sock_path} refused the connection: ERROR 2 bad hello"
        assert peer.hellos == 1
    finally:
        peer.close()


def test_finish_without_bye_gives_up_at_its_timeout(sock_path: str) -> None:
    welcome = p.encode_welcome(p.Welcome(1, 1, 0, 0, 0))
    peer = ScriptedPeer(sock_path, welcome, keep_open=True)  # never an ACK or a BYE
    try:
        client = PluginClient(sock_path, batch_events=1)
        client.send(rec(0))
        with pytest.raises(DeliveryError) as e:
            client.finish(timeout=0.3)
        assert str(e.value) == (f"the ctbridge plugin at {sock_path} did not confirm the end of stream "
                                "within 0.3s (1 batches unacknowledged)")
        client.close()
    finally:
        peer.close()


def test_a_reconnect_to_the_same_instance_resends_only_what_it_lacks(plugin: StandInPlugin,
                                                                      sock_path: str) -> None:
    client = PluginClient(sock_path, batch_events=5, window=8)
    plugin.hold_acks.set()
    before = set(threading.enumerate())
    for i in range(10):
        client.send(rec(i))
    (reader,) = [t for t in threading.enumerate() if t not in before and t.name == "ctbridge-acks"]
    until(lambda: len(plugin.records) == 10, "batches 1 and 2 at the plugin")
    plugin.kick()  # the link drops; the plugin holds batches 1 and 2, unacknowledged
    reader.join(30)  # the client has seen the drop
    assert not reader.is_alive()
    plugin.hold_acks.clear()
    for i in range(10, 15):
        client.send(rec(i))
    client.wait_acked(timeout=30)
    assert plugin.seqs_seen == [1, 2, 3] and client.welcome_last_seq == 2
    assert client.stats.resent_batches == 0 and client.stats.reconnects == 1
    assert sent_ids(plugin) == list(range(15))
    client.finish(timeout=30)


def test_a_restarted_plugin_ahead_of_us_with_nothing_pending(plugin: StandInPlugin, sock_path: str) -> None:
    client = PluginClient(sock_path, batch_events=5)
    for i in range(5):
        client.send(rec(i))
    client.wait_acked(timeout=30)
    plugin.restart()
    with plugin._lock:
        plugin.last_seq = 100
    client.send(rec(5))
    client.flush()
    client.wait_acked(timeout=30)
    assert plugin.seqs_seen == [1, 101]  # a seq at or below 100 would be dropped as already held
    assert sent_ids(plugin) == [0, 1, 2, 3, 4, 5]
    assert client.finish(timeout=30) == 101
