"""Property tests: the bridge's side of the ingest protocol (bridge/deliver/protocol.py).

- Any bytes: decoding raises ProtocolError or returns a frame, nothing else.
- Frames built here by hand from docs/ingest-protocol.md (not with the module's encoder) decode to
  what was packed; the encoder's output equals the hand-built bytes.
- FrameReader reassembles any sequence of frames however the stream is cut.
"""

from __future__ import annotations

import socket
import struct
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.deliver import protocol as p
from bridge.errors import ProtocolError

u64 = st.integers(0, 2**64 - 1)
u16 = st.integers(0, 2**16 - 1)
records = st.lists(st.tuples(u64, st.binary(max_size=64)), max_size=8)
texts = st.text(max_size=40)


def frame(ftype: int, body: bytes) -> bytes:
    """docs/ingest-protocol.md: u32 length (type + body), u8 type, body; little-endian."""
    return struct.pack("<IB", len(body) + 1, ftype) + body


def batch_body(seq: int, recs: list[tuple[int, bytes]]) -> bytes:
    return struct.pack("<QI", seq, len(recs)) + b"".join(struct.pack("<QI", ts, len(r)) + r for ts, r in recs)


@given(st.binary(max_size=300))
def test_any_bytes_decode_to_a_frame_or_a_protocol_error(data: bytes) -> None:
    try:
        p.decode_frame(data)
    except ProtocolError:
        pass  # the only failure allowed; anything else (struct.error, IndexError...) fails the test


@given(st.integers(1, 15), st.binary(max_size=200))
def test_any_body_of_a_known_type_decodes_or_is_malformed(ftype: int, body: bytes) -> None:
    try:
        p.decode_frame(frame(ftype, body))
    except ProtocolError as e:
        assert "malformed" in str(e)


@given(u64, records)
def test_hand_built_batch_decodes_to_what_was_packed(seq: int, recs: list[tuple[int, bytes]]) -> None:
    got = p.decode_frame(frame(3, batch_body(seq, recs)))
    assert isinstance(got, p.Batch)
    assert got.seq == seq and got.records == recs
    assert p.encode_batch(seq, recs) == frame(3, batch_body(seq, recs))


@given(u64, records, st.integers(1, 11))
def test_a_batch_cut_short_or_padded_is_malformed(seq: int, recs: list[tuple[int, bytes]], cut: int) -> None:
    body = batch_body(seq, recs)
    for bad in (body[:-cut] if cut <= len(body) else b"", body + b"\0" * cut):
        try:
            p.decode_frame(frame(3, bad))
        except ProtocolError:
            continue
        raise AssertionError(f"accepted a BATCH body of {len(bad)} bytes for {len(body)}")


@given(u16, u16, texts)
def test_hello_and_error_frames(version: int, code: int, text: str) -> None:
    raw = text.encode()
    if len(raw) > 0xFFFF:
        return
    hello = p.decode_frame(frame(1, struct.pack("<HH", version, len(raw)) + raw))
    assert isinstance(hello, p.Hello) and (hello.version, hello.name) == (version, text)
    err = p.decode_frame(frame(15, struct.pack("<HH", code, len(raw)) + raw))
    assert isinstance(err, p.Error) and (err.code, err.message) == (code, text)


@given(u64, u64, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_welcome_ack_bye(inst: int, last: int, max_ev: int, max_rec: int) -> None:
    w = p.decode_frame(frame(2, struct.pack("<HQQII", 1, inst, last, max_ev, max_rec)))
    assert isinstance(w, p.Welcome)
    assert (w.instance_id, w.last_seq, w.max_batch_events, w.max_record_bytes) == (inst, last, max_ev, max_rec)
    assert p.decode_frame(frame(4, struct.pack("<Q", last))) == p.Ack(last)
    assert p.decode_frame(frame(6, struct.pack("<Q", inst))) == p.Bye(inst)


@given(st.lists(st.tuples(u64, records), min_size=1, max_size=5), st.lists(st.integers(1, 50), min_size=1))
@settings(max_examples=50, deadline=None)
def test_frame_reader_reassembles_frames_however_the_stream_is_cut(
        batches: list[tuple[int, list[tuple[int, bytes]]]], cuts: list[int]) -> None:
    stream = b"".join(frame(3, batch_body(seq, recs)) for seq, recs in batches) + frame(5, b"")
    a, b = socket.socketpair()
    try:
        def write() -> None:
            off, i = 0, 0
            while off < len(stream):
                n = cuts[i % len(cuts)]
                a.sendall(stream[off:off + n])
                off += n
                i += 1
            a.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=write)
        t.start()
        reader = p.FrameReader(b, chunk=7)
        got = []
        while (f := reader.read()) is not None:
            got.append(f)
            if isinstance(f, p.End):
                break
        t.join()
    finally:
        a.close()
        b.close()
    assert got == [p.Batch(seq, recs) for seq, recs in batches] + [p.End()]


# Written to kill the mutants `make mutation` left alive in protocol.py (docs/reliability.md).

def test_error_codes_are_the_documented_numbers() -> None:
    # docs/ingest-protocol.md: 1 version, 2 malformed, 3 busy, 4 sequence, 5 too large, 6 internal.
    assert [(c.name, int(c)) for c in p.ErrorCode] == [
        ("VERSION", 1), ("MALFORMED", 2), ("BUSY", 3), ("SEQUENCE", 4), ("TOO_LARGE", 5), ("INTERNAL", 6)]
    assert [int(t) for t in p.FrameType] == [1, 2, 3, 4, 5, 6, 15]


def test_frame_length_limit_is_inclusive() -> None:
    # "1 <= length <= 67108864": the header alone decides, so no 64 MiB body is needed.
    assert p.parse_header(struct.pack("<IB", 64 << 20, 3)) == ((64 << 20) - 1, 3)
    for bad in (0, (64 << 20) + 1):
        try:
            p.parse_header(struct.pack("<IB", bad, 3))
        except ProtocolError:
            continue
        raise AssertionError(f"length {bad} accepted")


@given(st.text(min_size=0, max_size=3).map(lambda s: s * 30000))
@settings(max_examples=10)
def test_hello_name_is_cut_to_65535_bytes(name: str) -> None:
    raw = name.encode()
    frame_bytes = p.encode_hello(name)
    n = struct.unpack_from("<H", frame_bytes, 7)[0]
    assert n == min(len(raw), 0xFFFF)
    assert frame_bytes[9:] == raw[:n]
    assert struct.unpack_from("<I", frame_bytes, 0)[0] == 1 + 4 + n


@given(st.lists(records, min_size=1, max_size=4), u64)
def test_batch_builder_appends_entries_runs(runs: list[list[tuple[int, bytes]]], seq: int) -> None:
    b = p.BatchBuilder()
    for run in runs:
        b.add_entries(b"".join(struct.pack("<QI", ts, len(r)) + r for ts, r in run), len(run))
    flat = [rec for run in runs for rec in run]
    assert bytes(b.seal(seq)) == frame(3, batch_body(seq, flat))
    assert b.count == 0  # sealed: a new, empty batch


def test_error_message_is_cut_to_65535_bytes() -> None:
    frame_bytes = p.encode_error(2, "m" * 70000)
    assert struct.unpack_from("<HH", frame_bytes, 5) == (2, 0xFFFF)
    assert len(frame_bytes) == 5 + 4 + 0xFFFF
