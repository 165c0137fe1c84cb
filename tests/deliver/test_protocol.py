from __future__ import annotations

import socket
import struct
import threading

import pytest

from bridge.deliver import protocol as p
from bridge.errors import ProtocolError


@pytest.mark.parametrize(
    "frame",
    [
        p.Hello(1, "ctbridge-é"),
        p.Welcome(1, 2**64 - 1, 42, 512, 4 << 20),
        p.Batch(7, [(1_700_000_000_000_000_000, b'{"eventID":"a"}'), (0, b"{}")]),
        p.Batch(8, []),
        p.Ack(9),
        p.End(),
        p.Bye(10),
        p.Error(3, "busy: another client is connected"),
    ],
)
def test_every_frame_round_trips(frame: p.Frame) -> None:
    data = _encode(frame)
    assert struct.unpack_from("<I", data)[0] == len(data) - 4
    assert p.decode_frame(data) == frame


def test_layout_matches_the_contract() -> None:
    # docs/ingest-protocol.md: u32 length, u8 type, BATCH body = u64 seq, u32 count, (u64 ts, u32 len, bytes)*
    data = p.encode_batch(5, [(6, b"{}")])
    assert data == struct.pack("<IBQIQI", 1 + 12 + 12 + 2, 3, 5, 1, 6, 2) + b"{}"
    assert p.encode_ack(1) == b"\x09\x00\x00\x00\x04\x01\x00\x00\x00\x00\x00\x00\x00"
    assert p.encode_end() == b"\x01\x00\x00\x00\x05"
    assert p.encode_hello("ab") == b"\x07\x00\x00\x00\x01\x01\x00\x02\x00ab"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00\x00\x00\x05", "length 0"),
        (struct.pack("<IB", (64 << 20) + 1, 3), "length 67108865"),
        (struct.pack("<IB", 1, 9), "unknown type 9"),
        (struct.pack("<IB", 1, 4), "ACK frame: body is 0 bytes, needs 8"),
        (struct.pack("<IBQB", 10, 6, 1, 0), "BYE frame: 1 bytes left over"),
        (struct.pack("<IB", 2, 5) + b"x", "END frame: 1 bytes left over"),
        (struct.pack("<IBQI", 13, 3, 1, 5), "says 5 records but has only 0 bytes"),
        (struct.pack("<IBQIQI", 25, 3, 1, 1, 0, 10), "record 0 of 1 is truncated"),
        (struct.pack("<IBQIQI", 28, 3, 1, 1, 0, 1) + b"{}}", "BATCH frame: 2 bytes left over"),
        (struct.pack("<IBHH", 7, 1, 1, 2) + b"\xff\xfe", "HELLO frame: text is not UTF-8"),
        (struct.pack("<IBHH", 7, 15, 1, 9) + b"ab", "ERROR frame: body is 6 bytes, needs 13"),
        (b"\x01\x00", "shorter than the 5-byte header"),
    ],
)
def test_malformed_frames_name_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match="malformed") as info:
        p.decode_frame(data)
    assert message in str(info.value)


def test_batch_builder_reuses_nothing_between_batches() -> None:
    b = p.BatchBuilder()
    b.add(1, b'{"a":1}')
    b.add(2, b'{"b":2}')
    first = b.seal(3)
    assert b.count == 0
    b.add(4, b"{}")
    second = b.seal(4)
    assert p.decode_frame(bytes(first)) == p.Batch(3, [(1, b'{"a":1}'), (2, b'{"b":2}')])
    assert p.decode_frame(bytes(second)) == p.Batch(4, [(4, b"{}")])
    p.set_batch_seq(first, 99)
    decoded = p.decode_frame(bytes(first))
    assert isinstance(decoded, p.Batch) and decoded.seq == 99


def test_frame_reader_reassembles_split_frames() -> None:
    a, b = socket.socketpair()
    frames: list[p.Frame] = [p.Welcome(1, 5, 0, 512, 1024), p.Ack(1), p.Batch(2, [(3, b"x" * 100_000)]), p.Bye(2)]
    data = b"".join(_encode(f) for f in frames)

    def trickle() -> None:
        # Odd-sized pieces cut through headers and bodies.
        for i in range(0, len(data), 7919):
            a.sendall(data[i : i + 7919])
        a.close()

    t = threading.Thread(target=trickle)
    t.start()
    reader = p.FrameReader(b, chunk=1000)
    got = [reader.read() for _ in frames]
    assert got == frames
    assert reader.read() is None  # clean close between frames
    t.join()
    b.close()


def test_frame_reader_reports_close_inside_a_frame() -> None:
    a, b = socket.socketpair()
    a.sendall(p.encode_ack(1) + p.encode_bye(7)[:9])
    a.close()
    reader = p.FrameReader(b)
    assert reader.read() == p.Ack(1)
    with pytest.raises(ProtocolError, match="closed inside a BYE frame"):
        reader.read()
    b.close()


def test_frame_reader_rejects_garbage_before_reading_its_length() -> None:
    a, b = socket.socketpair()
    a.sendall(b"HTTP/1.1 200 OK\r\n")  # "HTTP" as a length is about 1.3 GB: rejected at once
    reader = p.FrameReader(b)
    with pytest.raises(ProtocolError, match="outside 1..67108864"):
        reader.read()
    a.close()
    b.close()


def _encode(frame: p.Frame) -> bytes:
    if isinstance(frame, p.Hello):
        return p.encode_hello(frame.name, frame.version)
    if isinstance(frame, p.Welcome):
        return p.encode_welcome(frame)
    if isinstance(frame, p.Batch):
        return p.encode_batch(frame.seq, frame.records)
    if isinstance(frame, p.Ack):
        return p.encode_ack(frame.seq)
    if isinstance(frame, p.End):
        return p.encode_end()
    if isinstance(frame, p.Bye):
        return p.encode_bye(frame.last_seq)
    return p.encode_error(frame.code, frame.message)
