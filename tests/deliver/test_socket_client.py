from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.deliver import protocol as p
from bridge.deliver.socket_client import PluginClient
from bridge.errors import DeliveryError, InputError, ProtocolError
from bridge.model import Record


class StandInPlugin:
    """Stands in for the ctbridge plugin; tests/deliver/test_plugin_socket.py covers the real plugin.

    Speaks the plugin end of docs/ingest-protocol.md on a real unix socket, with knobs to hold
    ACKs, drop the connection, or restart (new instance_id, unacknowledged records lost)."""

    def __init__(self, path: str, *, max_batch_events: int = 512, max_record_bytes: int = 4 << 20) -> None:
        self.path = path
        self.max_batch_events = max_batch_events
        self.max_record_bytes = max_record_bytes
        self.instance_id = 1
        self.last_seq = 0
        self.acked_seq = 0
        self.records: list[tuple[int, bytes]] = []
        self.batch_sizes: list[int] = []
        self.seqs_seen: list[int] = []
        self.hold_acks = threading.Event()  # set: received batches are not acknowledged
        self.drop_after: int | None = None  # close the connection after this many batches
        self.error_on_batch: tuple[int, str] | None = None
        self.refuse: p.Error | None = None
        self.connections = 0
        self._lock = threading.Lock()
        self._conn: socket.socket | None = None
        self._unacked: list[tuple[int, int]] = []  # (seq, records before it)
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._srv.bind(path)
        self._srv.listen(4)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        self._srv.shutdown(socket.SHUT_RDWR)
        self._srv.close()
        self.kick()
        self._thread.join(5)

    def kick(self) -> None:
        """Drops the current connection, as a crash of the link would."""
        with self._lock:
            conn = self._conn
        if conn is not None:
            conn.shutdown(socket.SHUT_RDWR)

    def restart(self) -> None:
        """A new plugin instance: records not yet acknowledged are lost, last_seq is 0."""
        with self._lock:
            if self._unacked:
                del self.records[self._unacked[0][1] :]
            self._unacked.clear()
            self.instance_id += 1
            self.last_seq = 0
        self.kick()

    def release_acks(self) -> None:
        self.hold_acks.clear()
        with self._lock:
            conn = self._conn
            if conn is not None:
                self._ack_all(conn)

    def _ack_all(self, conn: socket.socket) -> None:
        if self._unacked:
            self.acked_seq = self._unacked[-1][0]
            self._unacked.clear()
            conn.sendall(p.encode_ack(self.acked_seq))

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return
            with self._lock:
                busy = self._conn is not None
            if busy:
                conn.sendall(p.encode_error(p.ErrorCode.BUSY, "busy: another client is connected"))
                conn.close()
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        with self._lock:
            self._conn = conn
            self.connections += 1
        try:
            self._speak(conn, p.FrameReader(conn))
        except (OSError, ProtocolError):
            pass  # the client went away; like the plugin, keep listening
        finally:
            with self._lock:
                self._conn = None
            conn.close()

    def _speak(self, conn: socket.socket, reader: p.FrameReader) -> None:
        hello = reader.read()
        assert isinstance(hello, p.Hello)
        if self.refuse is not None:
            conn.sendall(p.encode_error(self.refuse.code, self.refuse.message))
            return
        welcome = p.Welcome(1, self.instance_id, self.last_seq, self.max_batch_events, self.max_record_bytes)
        conn.sendall(p.encode_welcome(welcome))
        batches = 0
        while True:
            frame = reader.read()
            if frame is None:
                return
            if isinstance(frame, p.End):
                with self._lock:
                    self._ack_all(conn)
                    conn.sendall(p.encode_bye(self.acked_seq))
                return
            assert isinstance(frame, p.Batch)
            with self._lock:
                self.seqs_seen.append(frame.seq)
                if self.error_on_batch is not None and frame.seq == self.error_on_batch[0]:
                    conn.sendall(p.encode_error(p.ErrorCode.TOO_LARGE, self.error_on_batch[1]))
                    return
                if frame.seq > self.last_seq:
                    self._unacked.append((frame.seq, len(self.records)))
                    self.records.extend(frame.records)
                    self.batch_sizes.append(len(frame.records))
                    self.last_seq = frame.seq
                if not self.hold_acks.is_set():
                    self._ack_all(conn)
            batches += 1
            if self.drop_after is not None and batches >= self.drop_after:
                self.drop_after = None
                conn.shutdown(socket.SHUT_RDWR)
                return


@pytest.fixture
def sock_path(tmp_path: Path) -> str:
    return str(tmp_path / "s.sock")


@pytest.fixture
def plugin(sock_path: str) -> Iterator[StandInPlugin]:
    srv = StandInPlugin(sock_path)
    yield srv
    srv.close()


def rec(i: int, size: int = 0) -> Record:
    raw = b'{"eventID":"%d","pad":"%s"}' % (i, b"x" * size)
    return Record(raw=raw, ts_ns=1_700_000_000_000_000_000 + i, origin=f"test.json#{i}")


def sent_ids(plugin: StandInPlugin) -> list[int]:
    return [ts - 1_700_000_000_000_000_000 for ts, _ in plugin.records]


def test_records_arrive_once_in_order_and_finish_returns_last_seq(plugin: StandInPlugin, sock_path: str) -> None:
    acks: list[int] = []
    client = PluginClient(sock_path, batch_events=100, on_ack=acks.append)
    client.connect()
    for i in range(1050):
        client.send(rec(i))
    last = client.finish(timeout=10)
    assert sent_ids(plugin) == list(range(1050))
    assert plugin.records[3][1] == rec(3).raw
    assert plugin.batch_sizes == [100] * 10 + [50]
    assert last == 11 == plugin.acked_seq
    assert acks[-1] == 1050 and acks == sorted(acks)
    assert client.stats.records_sent == 1050
    assert client.stats.batches_sent == client.stats.batches_acked == 11
    assert client.stats.reconnects == 0


def test_wait_acked_returns_once_everything_is_acknowledged(plugin: StandInPlugin, sock_path: str) -> None:
    acks: list[int] = []
    client = PluginClient(sock_path, batch_events=10, on_ack=acks.append)
    plugin.hold_acks.set()
    for i in range(25):
        client.send(rec(i))
    threading.Timer(0.3, plugin.release_acks).start()
    t0 = time.monotonic()
    client.wait_acked(timeout=5)
    assert time.monotonic() - t0 >= 0.25
    assert client.unacked_batches == 0 and acks[-1] == 25
    plugin.hold_acks.set()
    client.send(rec(25))
    with pytest.raises(DeliveryError, match="did not acknowledge 1 batches within 0.2s"):
        client.wait_acked(timeout=0.2)
    plugin.release_acks()
    client.finish(timeout=5)
    assert sent_ids(plugin) == list(range(26))


def test_welcome_limits_are_respected(sock_path: str) -> None:
    srv = StandInPlugin(sock_path, max_batch_events=7, max_record_bytes=200)
    try:
        client = PluginClient(sock_path, batch_events=512)
        client.send(rec(0))
        with pytest.raises(InputError, match=r"test\.json#1: record is \d+ bytes, the plugin accepts at most 200"):
            client.send(rec(1, size=300))
        for i in range(2, 20):
            client.send(rec(i))
        client.finish(timeout=10)
        assert max(srv.batch_sizes) == 7
        assert sent_ids(srv) == [0] + list(range(2, 20))
    finally:
        srv.close()


def test_batch_bytes_splits_batches(plugin: StandInPlugin, sock_path: str) -> None:
    client = PluginClient(sock_path, batch_bytes=4096)
    for i in range(40):
        client.send(rec(i, size=1000))
    client.finish(timeout=10)
    assert len(plugin.batch_sizes) > 10 and max(plugin.batch_sizes) <= 4
    assert sent_ids(plugin) == list(range(40))


def test_send_blocks_when_window_is_full(plugin: StandInPlugin, sock_path: str) -> None:
    plugin.hold_acks.set()
    client = PluginClient(sock_path, window=2, batch_events=10)
    client.connect()
    done = threading.Event()

    def produce() -> None:
        for i in range(30):
            client.send(rec(i))
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    time.sleep(0.3)
    assert not done.is_set()  # the third batch waits for an ACK
    assert client.unacked_batches == 2
    assert len(plugin.records) == 20
    plugin.release_acks()
    assert done.wait(5)
    t.join()
    client.finish(timeout=10)
    assert sent_ids(plugin) == list(range(30))


def test_dropped_connection_resends_only_what_the_plugin_lacks(plugin: StandInPlugin, sock_path: str) -> None:
    plugin.hold_acks.set()
    plugin.drop_after = 3  # batches 1..3 received, none acknowledged, then the link drops
    client = PluginClient(sock_path, batch_events=10, window=4)
    for i in range(100):
        client.send(rec(i))
        if i == 45:
            plugin.release_acks()
    client.finish(timeout=10)
    assert sent_ids(plugin) == list(range(100))  # nothing lost, nothing twice
    assert client.stats.reconnects == 1
    assert plugin.connections == 2
    # seq > last_seq only: batches 1..3 were not sent again.
    assert plugin.seqs_seen.count(1) == plugin.seqs_seen.count(3) == 1


def test_plugin_restart_gets_every_unacknowledged_batch(plugin: StandInPlugin, sock_path: str) -> None:
    client = PluginClient(sock_path, batch_events=10, window=8)
    for i in range(20):
        client.send(rec(i))
    deadline = time.monotonic() + 5
    while client.unacked_batches and time.monotonic() < deadline:
        time.sleep(0.01)
    plugin.hold_acks.set()
    for i in range(20, 50):
        client.send(rec(i))
    deadline = time.monotonic() + 5
    while len(plugin.records) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    plugin.restart()  # batches 3..5 were received but not acknowledged: lost with the old instance
    plugin.hold_acks.clear()
    for i in range(50, 60):
        client.send(rec(i))
    client.finish(timeout=10)
    assert sent_ids(plugin) == list(range(60))
    # 3..5, plus 6 when it was written into the dying connection.
    assert client.stats.resent_batches in (3, 4)
    assert client.stats.reconnects == 1


def test_connect_timeout_names_the_path(sock_path: str) -> None:
    client = PluginClient(sock_path, connect_timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(DeliveryError, match=f"cannot connect to the ctbridge plugin at {sock_path}"):
        client.connect()
    assert 0.4 < time.monotonic() - t0 < 3


def test_connect_waits_for_the_plugin_to_appear(sock_path: str) -> None:
    holder: list[StandInPlugin] = []
    timer = threading.Timer(0.4, lambda: holder.append(StandInPlugin(sock_path)))
    timer.start()
    try:
        client = PluginClient(sock_path, connect_timeout=10)
        client.send(rec(1))
        assert client.finish(timeout=10) == 1
    finally:
        timer.join()
        for srv in holder:
            srv.close()


def test_busy_plugin_is_retried_then_reported(plugin: StandInPlugin, sock_path: str) -> None:
    first = PluginClient(sock_path)
    first.connect()
    second = PluginClient(sock_path, connect_timeout=0.5)
    with pytest.raises(DeliveryError, match="plugin busy"):
        second.connect()
    first.close()
    deadline = time.monotonic() + 5
    while plugin.connections and time.monotonic() < deadline:  # wait until the stand-in saw the close
        with plugin._lock:
            if plugin._conn is None:
                break
        time.sleep(0.01)
    third = PluginClient(sock_path, connect_timeout=5)
    third.send(rec(1))
    third.finish(timeout=10)
    assert sent_ids(plugin) == [1]


def test_version_refusal_is_not_retried(plugin: StandInPlugin, sock_path: str) -> None:
    plugin.refuse = p.Error(1, "unsupported protocol version 1, plugin speaks 2")
    client = PluginClient(sock_path, connect_timeout=30)
    with pytest.raises(DeliveryError, match="ERROR 1 unsupported protocol version"):
        client.connect()
    assert plugin.connections == 1  # connect() retries before it raises: one attempt, no retry


def test_error_mid_stream_surfaces_as_delivery_error(plugin: StandInPlugin, sock_path: str) -> None:
    plugin.error_on_batch = (2, "batch 2 record 0 is too large")
    client = PluginClient(sock_path, batch_events=5)
    with pytest.raises(DeliveryError, match="ERROR 5 batch 2 record 0 is too large"):
        for i in range(100):
            client.send(rec(i))
        client.finish(timeout=10)
    client.close()


def test_bad_settings_are_config_errors(sock_path: str) -> None:
    from bridge.errors import ConfigError

    with pytest.raises(ConfigError, match="window"):
        PluginClient(sock_path, window=0)
    with pytest.raises(ConfigError, match="batch_bytes"):
        PluginClient(sock_path, batch_bytes=100 << 20)


def test_context_manager_closes(plugin: StandInPlugin, sock_path: str) -> None:
    with PluginClient(sock_path) as client:
        client.send(rec(1))
        client.flush()
    with pytest.raises(DeliveryError, match="closed"):
        client.connect()
    assert os.path.exists(sock_path)


def test_on_seal_comes_before_the_bytes_and_again_for_a_new_instance(plugin: StandInPlugin, sock_path: str) -> None:
    seals: list[tuple[int, int, int, bool]] = []  # (seq, instance, records sealed, plugin had it already)

    def on_seal(seq: int, instance: int, sealed: int) -> None:
        with plugin._lock:
            seals.append((seq, instance, sealed, seq in plugin.seqs_seen))

    client = PluginClient(sock_path, batch_events=10, window=8, on_seal=on_seal)
    for i in range(25):
        client.send(rec(i))
    client.wait_acked(5)
    assert seals == [(1, 1, 10, False), (2, 1, 20, False), (3, 1, 25, False)]
    plugin.hold_acks.set()
    for i in range(25, 45):
        client.send(rec(i))
    deadline = time.monotonic() + 5
    while len(plugin.records) < 45 and time.monotonic() < deadline:
        time.sleep(0.01)
    plugin.restart()  # batches 4 and 5 lost with the old instance: journalled again for the new one
    plugin.hold_acks.clear()
    client.wait_acked(5)
    assert seals[3:5] == [(4, 1, 35, False), (5, 1, 45, False)]
    assert [s[:3] for s in seals[5:]] == [(4, 2, 35), (5, 2, 45)]
    client.finish(timeout=10)
