"""Falco's gRPC messages and method paths, loaded from a descriptor set shipped in the package.

``falco_protos.binpb`` is the FileDescriptorSet of proto/falco/*.proto, written by ``make proto``
(bridge/intake/gen_proto.py) and checked in; tests/intake/test_proto_wire.py keeps it current.
Loading descriptors at run time, instead of importing protoc-generated modules, needs nothing but
the protobuf runtime, so an installed ctbridge works with any protobuf >= 4.25 and no code is
generated on the user's machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, timestamp_pb2
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

DESCRIPTOR_SET = Path(__file__).with_name("falco_protos.binpb")

OUTPUTS_SERVICE = "falco.outputs.service"
VERSION_SERVICE = "falco.version.service"
SUB = f"/{OUTPUTS_SERVICE}/sub"
GET = f"/{OUTPUTS_SERVICE}/get"
VERSION = f"/{VERSION_SERVICE}/version"


def _load_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    for proto in files.file:  # protoc writes them in dependency order
        pool.Add(proto)
    return pool


POOL = _load_pool()


def _message(name: str) -> type[Message]:
    return GetMessageClass(POOL.FindMessageTypeByName(name))


OutputsRequest = _message("falco.outputs.request")
OutputsResponse = _message("falco.outputs.response")
VersionRequest = _message("falco.version.request")
VersionResponse = _message("falco.version.response")
Priority = EnumTypeWrapper(POOL.FindEnumTypeByName("falco.schema.priority"))
Source = EnumTypeWrapper(POOL.FindEnumTypeByName("falco.schema.source"))


def sub_call(channel: grpc.Channel) -> Any:
    """outputs.service/sub: bidirectional stream of requests and responses."""
    return channel.stream_stream(
        SUB, request_serializer=OutputsRequest.SerializeToString, response_deserializer=OutputsResponse.FromString
    )


def version_call(channel: grpc.Channel) -> Any:
    """version.service/version: unary."""
    return channel.unary_unary(
        VERSION, request_serializer=VersionRequest.SerializeToString, response_deserializer=VersionResponse.FromString
    )


def outputs_handler(sub: Any, get: Any) -> grpc.GenericRpcHandler:
    """A server-side handler for outputs.service (used by tests that stand in for Falco)."""
    return grpc.method_handlers_generic_handler(
        OUTPUTS_SERVICE,
        {
            "sub": grpc.stream_stream_rpc_method_handler(
                sub, request_deserializer=OutputsRequest.FromString, response_serializer=_serialize
            ),
            "get": grpc.unary_stream_rpc_method_handler(
                get, request_deserializer=OutputsRequest.FromString, response_serializer=_serialize
            ),
        },
    )


def version_handler(version: Any) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        VERSION_SERVICE,
        {
            "version": grpc.unary_unary_rpc_method_handler(
                version, request_deserializer=VersionRequest.FromString, response_serializer=_serialize
            )
        },
    )


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
