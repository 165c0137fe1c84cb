"""PluginClient against the real ctbridge plugin (build/plugin/libctbridge.so through its C ABI):
the plugin side of docs/ingest-protocol.md, driven the way Falco drives plugin_next_batch."""

from __future__ import annotations

import importlib.util
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bridge.deliver import protocol as p
from bridge.deliver.socket_client import PluginClient
from bridge.errors import DeliveryError, InputError
from bridge.model import Record


def _load_abi() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "plugin_abi.py"
    if "plugin_abi" in sys.modules:
        return sys.modules["plugin_abi"]
    spec = importlib.util.spec_from_file_location("plugin_abi", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["plugin_abi"] = module
    spec.loader.exec_module(module)
    return module


abi = _load_abi()
LIB = abi.default_library()
pytestmark = pytest.mark.skipif(
    not Path(LIB).exists(), reason=f"{LIB} is missing; build it with `make plugin`"
)
BASE_TS = 1_763_633_702_000_000_000


class Falco:
    """Calls plugin_next_batch in a loop on its own thread, as Falco's source thread does."""

    def __init__(self, sock_path: str, config: dict[str, Any] | None = None) -> None:
        self.lib = abi.PluginLib(LIB)
        self.state = self.lib.init(json.dumps(config or {}))
        self.inst = self.state.open(f"unix://{sock_path}")
        self.events: list[Any] = []
        self.max_per_call = 0
        self.rc_eof = threading.Event()
        self.running = threading.Event()
        self.running.set()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            if not self.running.wait(0.05):
                continue
            rc, events = self.inst.next_batch()
            self.events.extend(events)
            self.max_per_call = max(self.max_per_call, len(events))
            if rc == abi.SS_PLUGIN_EOF:
                self.rc_eof.set()
                return
            assert rc in (abi.SS_PLUGIN_SUCCESS, abi.SS_PLUGIN_TIMEOUT), rc

    def close(self) -> None:
        self._stop = True
        self.running.set()
        self._thread.join(10)
        self.inst.close()
        self.state.destroy()

    def payloads(self) -> list[bytes]:
        return [e.payload for e in self.events]


@pytest.fixture
def sock_path(tmp_path: Path) -> str:
    return str(tmp_path / "s.sock")


@pytest.fixture
def falco(sock_path: str) -> Iterator[Falco]:
    f = Falco(sock_path)
    yield f
    f.close()


def ct_record(i: int) -> Record:
    """A realistic CloudTrail record (~1 KB)."""
    doc = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:alice",
            "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice",
            "accountId": "123456789012",
            "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {"attributes": {"mfaAuthenticated": "false", "creationDate": "2025-11-20T10:00:00Z"}},
        },
        "eventTime": "2025-11-20T10:15:02Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "DeleteBucketEncryption",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.debian.12",
        "requestParameters": {"bucketName": f"bucket-{i}", "Host": f"bucket-{i}.s3.amazonaws.com", "encryption": ""},
        "responseElements": None,
        "requestID": f"REQ{i:012d}",
        "eventID": f"00000000-0000-0000-0000-{i:012d}",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "123456789012",
    }
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return Record(raw=raw, ts_ns=BASE_TS + i, origin=f"logs/a.json.gz#{i}")


def wait_for(cond: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_every_record_arrives_once_in_order_with_its_ts(falco: Falco, sock_path: str) -> None:
    acked: list[int] = []
    records = [ct_record(i) for i in range(3000)]
    client = PluginClient(sock_path, batch_events=128, on_ack=acked.append, connect_timeout=10)
    for r in records:
        client.send(r)
    last_seq = client.finish(timeout=30)
    assert falco.rc_eof.wait(10), "END did not make the plugin return EOF"
    assert falco.payloads() == [r.raw for r in records]
    for ev, r in zip(falco.events, records):
        ts, _tid, length, etype, nparams = struct.unpack_from("<QQIHI", ev.raw)
        assert (ts, etype, nparams, length) == (r.ts_ns, 322, 2, 38 + len(r.raw))
        assert ev.raw[38:] == r.raw  # payload at offset 38
    assert last_seq == client.stats.batches_sent == client.stats.batches_acked
    assert acked[-1] == 3000
    assert falco.max_per_call <= 512
    assert falco.state.metrics()["ctbridge.records"] == 3000


def test_dropped_connections_lose_and_duplicate_nothing(falco: Falco, sock_path: str) -> None:
    records = [ct_record(i) for i in range(20_000)]
    client = PluginClient(sock_path, batch_events=64, window=4, connect_timeout=10)
    client.connect()
    kills = 0
    stop = threading.Event()

    def killer() -> None:
        # Cuts the live connection under the sender, often in the middle of a frame.
        nonlocal kills
        while not stop.wait(0.05) and kills < 4:
            conn = client._conn
            if conn is not None and not conn.dead:
                conn.sock.shutdown(socket.SHUT_RDWR)
                kills += 1

    t = threading.Thread(target=killer)
    t.start()
    try:
        for r in records:
            client.send(r)
    finally:
        stop.set()
        t.join()
    client.finish(timeout=30)
    assert falco.rc_eof.wait(10)
    assert kills >= 1
    assert client.stats.reconnects == kills
    got = falco.payloads()
    assert len(got) == len(records)
    assert got == [r.raw for r in records]


def test_plugin_reads_only_when_falco_asks(falco: Falco, sock_path: str) -> None:
    falco.running.clear()  # Falco is busy elsewhere: no plugin_next_batch calls
    time.sleep(0.1)
    client = PluginClient(sock_path, batch_events=100, window=3, connect_timeout=10)
    done = threading.Event()

    def produce() -> None:
        for i in range(5000):
            client.send(ct_record(i))
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    # The handshake itself needs next_batch; let Falco run just long enough for it.
    falco.running.set()
    assert wait_for(lambda: client.instance_id is not None)
    falco.running.clear()
    time.sleep(0.5)
    assert not done.is_set(), "the sender did not block while Falco took nothing"
    assert client.unacked_batches <= 3
    falco.running.set()
    assert done.wait(30)
    t.join()
    client.finish(timeout=30)
    assert falco.rc_eof.wait(10)
    assert len(falco.events) == 5000


def test_malformed_clients_get_error_and_plugin_keeps_serving(falco: Falco, sock_path: str) -> None:
    def raw_exchange(data: bytes) -> p.Frame | None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(sock_path)
            s.sendall(data)
            reader = p.FrameReader(s)
            frame = reader.read()
            while isinstance(frame, p.Ack | p.Welcome):
                frame = reader.read()
            return frame

    garbage = raw_exchange(b"GET / HTTP/1.1\r\nHost: ctbridge\r\n\r\n")
    assert isinstance(garbage, p.Error) and garbage.code == p.ErrorCode.MALFORMED
    early = raw_exchange(p.encode_end())
    assert isinstance(early, p.Error) and "expected HELLO first" in early.message
    version = raw_exchange(p.encode_hello("old", version=2))
    assert version == p.Error(1, "unsupported protocol version 2, plugin speaks 1")
    bad_batch = bytearray(p.encode_batch(1, [(1, b"{}")]))
    bad_batch[5 + 8] = 9  # count 9, body holds 1
    broken = raw_exchange(p.encode_hello("x") + bytes(bad_batch))
    assert isinstance(broken, p.Error) and broken.code == p.ErrorCode.MALFORMED
    # Still listening, nothing from the bad clients was delivered.
    client = PluginClient(sock_path, connect_timeout=10)
    client.send(ct_record(1))
    client.finish(timeout=30)
    assert falco.rc_eof.wait(10)
    assert falco.payloads() == [ct_record(1).raw]
    assert falco.state.metrics()["ctbridge.bad_inputs"] == 4


def test_second_client_is_refused_busy(falco: Falco, sock_path: str) -> None:
    first = PluginClient(sock_path, connect_timeout=10)
    first.connect()
    second = PluginClient(sock_path, connect_timeout=0.5)
    with pytest.raises(DeliveryError, match="busy"):
        second.connect()
    first.send(ct_record(7))
    first.finish(timeout=30)
    assert falco.payloads() == [ct_record(7).raw]


def test_plugin_limits_reach_the_client(sock_path: str) -> None:
    falco = Falco(sock_path, {"maxBatchEvents": 16, "maxRecordBytes": 1024})
    try:
        client = PluginClient(sock_path, batch_events=512, connect_timeout=10)
        client.connect()
        big = Record(raw=b'{"x":"' + b"y" * 2000 + b'"}', ts_ns=1, origin="logs/big.json#3")
        with pytest.raises(InputError, match=r"logs/big\.json#3: record is 2008 bytes, the plugin accepts at most 1024"):
            client.send(big)
        small = [Record(raw=b'{"eventID":"%d"}' % i, ts_ns=i, origin=f"s#{i}") for i in range(100)]
        for r in small:
            client.send(r)
        client.finish(timeout=30)
        assert falco.rc_eof.wait(10)
        assert falco.payloads() == [r.raw for r in small]
        assert client.stats.batches_sent == 7  # 100 records in batches of at most 16
        assert falco.max_per_call <= 16
    finally:
        falco.close()


# What Falco hands the plugin for each way a user writes socketMode: a YAML map goes through
# yaml-cpp, which reads "0660", '0660' and 0660 as the octal integer 432 and 660 as decimal 660;
# only a JSON-string init_config keeps "0660" a string (tests/integration checks Falco itself).
@pytest.mark.parametrize(
    ("mode", "want"),
    [(432, 0o660), (384, 0o600), (660, 0o660), (640, 0o640), (777, 0o777), ("0660", 0o660), ("660", 0o660),
     ("0600", 0o600)],
)
def test_socket_mode_in_every_form_falco_delivers(sock_path: str, mode: int | str, want: int) -> None:
    falco = Falco(sock_path, {"socketMode": mode})
    try:
        assert Path(sock_path).stat().st_mode & 0o777 == want
    finally:
        falco.close()


def test_socket_file_lives_with_the_instance(sock_path: str) -> None:
    falco = Falco(sock_path, {"socketMode": "0660"})
    try:
        assert Path(sock_path).is_socket()
        assert Path(sock_path).stat().st_mode & 0o777 == 0o660
    finally:
        falco.close()
    assert not Path(sock_path).exists()
