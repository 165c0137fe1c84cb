"""Fault matrix row: the real Falco SIGKILLed mid-stream under `ctbridge run --watch`, then
started again (as its container would be). Falco runs the shipped falco_config/falco.yaml with a
rule that matches every record and writes one line per record to a file, so what each Falco
evaluated is counted exactly.

What the plugin's ACK means: the engine evaluated the batch (it is sent when Falco asks for the
next one). Falco writes alerts from its own output queue on another thread, so a SIGKILL loses
the alerts still queued there: that is Falco's (the same holds for syscall alerts), and no
source can close it. The test therefore asserts the bridge's part exactly, against the ACKs
themselves: a tap (`_Tap`, a plain relay on the socket path the bridge is given) reads each
BATCH's seq and eventIDs and each ACK the plugin sent. The new Falco must see, once and in order,
everything from the first record the dead plugin had not ACKed; every record with no alert must
be one the dead plugin ACKed (evaluated, its alert still in Falco's queue). Repeats are the
batches taken but not ACKed: at most window x batch = 8 x 512.
Skips without a Falco binary (FALCO_BINARY or `falco` on PATH)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import struct
import threading
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from held_falco import REPO, free_port
from plugin_abi import default_library

sys.path.insert(0, str(REPO / "tests" / "integration"))
from shipped import ShippedFalco, shipped_config  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
RULE = """\
- required_engine_version: 0.10.0
- rule: Every Record
  desc: one output line per record Falco evaluated
  condition: ct.id != ""
  output: evaluated %ct.id
  priority: INFO
  source: aws_cloudtrail
"""


@pytest.fixture
def falco_bin() -> str:
    binary = os.environ.get("FALCO_BINARY") or shutil.which("falco")
    if not binary:
        pytest.skip("no Falco binary (set FALCO_BINARY or put falco on PATH)")
    if not Path(default_library()).is_file():
        pytest.skip(f"plugin library {default_library()} is not built (run `make plugin`)")
    return binary


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ctbk-") as name:  # unix socket paths must stay short
        Path(name).chmod(0o755)
        yield Path(name)


def _log_file(path: Path, ids: list[str], start: int) -> None:
    recs = [{"eventVersion": "1.09", "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i)),
             "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1",
             "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": "123456789012"},
             "requestParameters": {"bucketName": "b", "key": f"k{i}"}, "eventID": eid, "eventType": "AwsApiCall"}
            for i, eid in enumerate(ids)]
    path.write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))


def _evaluated(path: Path) -> list[str]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line)["output_fields"]["ct.id"])
        except (ValueError, KeyError):
            pass  # a line cut by the SIGKILL
    return out


class _Tap:
    """Relays the bridge's ingest connections to the plugin's socket unchanged and records, per
    connection, the eventIDs of each BATCH (by seq) and the highest ACK. Frames: u32 length (type
    + body), u8 type; BATCH = u64 seq, u32 count, then count x (u64 ts, u32 len, bytes); ACK = u64.
    Not a stand-in: both peers are the real ones (the bridge and the plugin inside Falco)."""

    def __init__(self, listen: Path, upstream: Path) -> None:
        self.upstream = upstream
        self.conns: list[dict[str, object]] = []
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._srv.bind(str(listen))
        self._srv.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self._srv.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                up.connect(str(self.upstream))
            except OSError:  # Falco not up (yet): the bridge retries
                up.close()
                down.close()
                continue
            conn: dict[str, object] = {"batches": {}, "ack": 0, "closed": threading.Event()}
            self.conns.append(conn)
            threading.Thread(target=self._pipe, args=(down, up, conn, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, down, conn, True), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, conn: dict[str, object], from_plugin: bool) -> None:
        buf = bytearray()
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
                buf += data
                while len(buf) >= 5:
                    length, ftype = struct.unpack_from("<IB", buf)
                    if len(buf) < 4 + length:
                        break
                    body = bytes(buf[5:4 + length])
                    del buf[:4 + length]
                    if from_plugin and ftype == 4:
                        conn["ack"] = max(int(conn["ack"]), struct.unpack("<Q", body)[0])  # type: ignore[call-overload]
                    elif not from_plugin and ftype == 3:
                        seq, count = struct.unpack_from("<QI", body)
                        off, ids = 12, []
                        for _ in range(count):
                            _, n = struct.unpack_from("<QI", body, off)
                            ids.append(json.loads(body[off + 12:off + 12 + n])["eventID"])
                            off += 12 + n
                        conn["batches"][seq] = ids  # type: ignore[index]
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()  # the other direction's thread closes dst, its src, once shutdown ends it
            if from_plugin:
                conn["closed"].set()  # type: ignore[attr-defined]

    def acked(self, conns: list[dict[str, object]]) -> list[str]:
        """The records of every batch ACKed over these connections (one plugin instance: one seq space)."""
        batches: dict[int, list[str]] = {}
        for c in conns:
            batches.update(c["batches"])  # type: ignore[call-overload]
        ack = max(int(c["ack"]) for c in conns)  # type: ignore[call-overload]
        return [i for seq in sorted(batches) if seq <= ack for i in batches[seq]]

    def close(self) -> None:
        self._srv.close()


def test_falco_sigkilled_mid_stream_loses_nothing(falco_bin: str, short_tmp: Path,
                                                 record_property: Callable[[str, object], None]) -> None:
    rules = short_tmp / "rules"
    rules.mkdir()
    (rules / "every.yaml").write_text(RULE)
    inbox = short_tmp / "inbox"
    inbox.mkdir()
    files, per_file = 12, 2000
    ids = [[str(uuid.uuid4()) for _ in range(per_file)] for _ in range(files)]
    for n in range(files):
        _log_file(inbox / f"f{n:02d}.json.gz", ids[n], 1_700_000_000 + n * per_file)
    want = {i for chunk in ids for i in chunk}
    cfg = shipped_config("falco.yaml", short_tmp, plugin=default_library(), rules=rules, http_url="http://127.0.0.1:9/")

    def start(tag: str) -> ShippedFalco:
        f = ShippedFalco(falco_bin, cfg, short_tmp, ("-U", "-o", "http_output.enabled=false",
                                                     "-o", "file_output.enabled=true",
                                                     "-o", f"file_output.filename={short_tmp / f'seen-{tag}.jsonl'}"))
        f.wait_ready()
        return f

    falco_a = start("a")
    tap = _Tap(short_tmp / "tap.sock", falco_a.socket)  # falco_b listens on the same path
    with open(short_tmp / "bridge.log", "wb") as blog:
        bridge = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--watch", str(inbox), "--falco-socket", str(short_tmp / "tap.sock"),
             "--listen", f"127.0.0.1:{free_port()}", "--state", str(short_tmp / "state.db"), "--settle", "0",
             "--poll", "0.2"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=blog)
    falco_b = None
    try:
        deadline = time.monotonic() + 120
        while len(_evaluated(short_tmp / "seen-a.jsonl")) < 3000 and time.monotonic() < deadline:
            time.sleep(0.01)
        falco_a.stop(signal.SIGKILL)  # no END, no BYE, no flush: whatever was in flight is gone
        seen_a = _evaluated(short_tmp / "seen-a.jsonl")
        assert 0 < len(seen_a) < len(want), "killed mid-stream"
        conns_a = list(tap.conns)  # the bridge may have reconnected to it (a retry under load)
        assert conns_a and all(c["closed"].wait(30) for c in conns_a)  # type: ignore[attr-defined]
        acked_a = tap.acked(conns_a)
        falco_b = start("b")
        order = [i for chunk in ids for i in chunk]  # the files in name order, as the local source reads them
        deadline = time.monotonic() + 120
        while order[-1] not in _evaluated(short_tmp / "seen-b.jsonl") and time.monotonic() < deadline:
            time.sleep(0.2)  # alerts are written in evaluation order: the last one means all are out
        seen_b = _evaluated(short_tmp / "seen-b.jsonl")
        assert acked_a == order[:len(acked_a)], "the dead plugin ACKed records out of stream order"
        assert seen_a == order[:len(seen_a)], "the dead Falco's alerts are not a prefix of the stream"
        # The bridge resends exactly what the dead plugin had not ACKed, once, in order.
        assert seen_b == order[len(acked_a):], (
            f"the restarted Falco saw {len(seen_b)} records from position {order.index(seen_b[0]) if seen_b else None}; "
            f"{len(acked_a)} were ACKed; bridge: {(short_tmp / 'bridge.log').read_text()[-2000:]}")
        missing = set(want) - set(seen_a) - set(seen_b)
        # No alert only for records the dead plugin ACKed: evaluated, the alert still in Falco's queue.
        assert missing <= set(acked_a), f"{len(missing - set(acked_a))} records never ACKed and never evaluated"
        repeats = max(0, len(seen_a) - len(acked_a))
        assert repeats <= 8 * 512, repeats
        record_property("alerts_lost_in_falcos_output_queue", len(missing))
        record_property("records", len(want))
        record_property("evaluated_before_kill", len(seen_a))
        record_property("evaluated_by_restarted_falco", len(seen_b))
        record_property("evaluated_twice", repeats)
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.wait(60)
        except subprocess.TimeoutExpired:
            bridge.kill()
            bridge.wait(10)
        falco_a.stop()
        tap.close()
        if falco_b is not None:
            falco_b.stop()
