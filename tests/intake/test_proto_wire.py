"""Our Falco protos against the documented wire schema (falco-facts §2), byte for byte.

The bytes below are encoded by hand from the documented field numbers and types, independently of
proto/falco/*.proto, then decoded with the messages loaded from the descriptor set compiled from it: a wrong number or type in our
declaration fails here even though our own client and test server would agree with each other.
"""

from __future__ import annotations

import pytest

from bridge.intake import falco_proto as pb
from bridge.intake import gen_proto


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _len(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def test_outputs_response_fields_match_falco() -> None:
    timestamp = _int(1, 1603128256) + _int(2, 5)  # google.protobuf.Timestamp {seconds, nanos}
    entry = _len(1, b"ct.region") + _len(2, b"us-east-1")  # map<string,string> entry {key=1, value=2}
    wire = (_len(1, timestamp) + _int(2, 2) + _int(3, 3) + _len(4, b"Delete Bucket Encryption")
            + _len(5, b"17:24:16: Critical ...") + _len(6, entry) + _len(7, b"host-1") + _len(8, b"aws")
            + _len(8, b"cloud") + _len(9, b"aws_cloudtrail"))
    resp = pb.OutputsResponse.FromString(wire)
    assert (resp.time.seconds, resp.time.nanos) == (1603128256, 5)
    assert resp.priority == pb.Priority.Value("CRITICAL") == 2
    assert resp.source_deprecated == pb.Source.Value("PLUGIN") == 3
    assert resp.rule == "Delete Bucket Encryption"
    assert resp.output == "17:24:16: Critical ..."
    assert dict(resp.output_fields) == {"ct.region": "us-east-1"}
    assert resp.hostname == "host-1"
    assert list(resp.tags) == ["aws", "cloud"]
    assert resp.source == "aws_cloudtrail"
    assert resp.SerializeToString() == wire  # and our encoder writes exactly what Falco would read


def test_enums_match_falco() -> None:
    names = ["EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "DEBUG"]
    assert [pb.Priority.Value(n) for n in names] == list(range(8))
    assert [pb.Priority.Value(n.lower()) for n in names] == list(range(8))
    assert [pb.Source.Value(n) for n in ("SYSCALL", "K8S_AUDIT", "INTERNAL", "PLUGIN")] == [0, 1, 2, 3]


def test_services_and_version_response_match_falco() -> None:
    outputs = pb.POOL.FindServiceByName("falco.outputs.service")
    assert outputs.full_name == "falco.outputs.service"
    sub, get = outputs.methods_by_name["sub"], outputs.methods_by_name["get"]
    assert (sub.client_streaming, sub.server_streaming) == (True, True)
    assert (get.client_streaming, get.server_streaming) == (False, True)
    version = pb.POOL.FindServiceByName("falco.version.service")
    assert version.full_name == "falco.version.service"
    assert not version.methods_by_name["version"].server_streaming
    wire = (_len(1, b"0.43.1") + _int(2, 0) + _int(3, 43) + _int(4, 1) + _len(5, b"") + _len(6, b"")
            + _int(7, 54) + _len(8, b"abc") + _int(9, 0) + _int(10, 0) + _len(11, b"0.54.0"))
    v = pb.VersionResponse.FromString(wire)
    assert (v.version, v.major, v.minor, v.patch) == ("0.43.1", 0, 43, 1)
    assert (v.engine_minor, v.engine_fields_checksum, v.engine_version) == (54, "abc", "0.54.0")


def test_shipped_descriptor_set_is_compiled_from_proto_dir() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (test extras) compiles proto/falco/*.proto")
    assert gen_proto.is_current(), "bridge/intake/falco_protos.binpb is stale: run `make proto`"
