"""Write bridge/intake/falco_protos.binpb from proto/falco/*.proto: ``python -m bridge.intake.gen_proto``.

A developer tool (``make proto``), not used at run time: it needs grpcio-tools, which only the
test extras install. The descriptor set it writes is checked in and shipped in the package;
bridge/intake/falco_proto.py loads it. ``--check`` exits 1 when the checked-in file is stale.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parents[1] / "proto"
PROTOS = ("falco/schema.proto", "falco/outputs.proto", "falco/version.proto")
OUT = HERE / "falco_protos.binpb"


class ProtoGenError(RuntimeError):
    """protoc is not available or failed."""


def compile_protos() -> bytes:
    """The FileDescriptorSet of our protos, serialized deterministically."""
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError as e:
        raise ProtoGenError("grpcio-tools is not installed (install the test extras)") from e
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        args = ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--descriptor_set_out={out}",
                *(str(PROTO_ROOT / rel) for rel in PROTOS)]
        if protoc.main(args) != 0:
            raise ProtoGenError(f"protoc failed on {', '.join(PROTOS)} (see messages above)")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return files.SerializeToString(deterministic=True)


def is_current() -> bool:
    if not OUT.exists():
        return False
    shipped = descriptor_pb2.FileDescriptorSet.FromString(OUT.read_bytes())
    return shipped == descriptor_pb2.FileDescriptorSet.FromString(compile_protos())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if "--check" in args:
            ok = is_current()
            print(f"gen_proto: {OUT.name} is {'current' if ok else 'STALE: run `make proto`'}")
            return 0 if ok else 1
        data = compile_protos()
    except ProtoGenError as e:
        print(f"gen_proto: {e}", file=sys.stderr)
        return 1
    if OUT.exists() and OUT.read_bytes() == data:
        print(f"gen_proto: up to date: {OUT}")
        return 0
    OUT.write_bytes(data)
    print(f"gen_proto: wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
