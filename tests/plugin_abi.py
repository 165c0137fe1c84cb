"""ctypes access to libctbridge.so through the Falco plugin C ABI (falco-facts §4).

Every Python test that talks to the plugin goes through this module, so the structs below are
the ABI as Falco sees it: if a layout here disagrees with the plugin, the tests fail.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SS_PLUGIN_SUCCESS = 0
SS_PLUGIN_FAILURE = 1
SS_PLUGIN_TIMEOUT = -1
SS_PLUGIN_EOF = 2
SS_PLUGIN_NOT_SUPPORTED = 3
SS_PLUGIN_SCHEMA_JSON = 1

PLUGINEVENT_TYPE = 322
PAYLOAD_OFFSET = 38
EVENT_HEADER = struct.Struct("<QQIHI")  # ts, tid, len, type, nparams: 26 packed bytes
PARAMS = struct.Struct("<III")  # len(plugin_id)=4, len(payload), plugin_id

FTYPE_UINT64 = 8
FTYPE_STRING = 9
FTYPE_RELTIME = 20
FTYPE_ABSTIME = 21
FTYPE_BOOL = 25
FTYPE_IPADDR = 40
FTYPE_IPNET = 41
_FTYPES = {
    "uint64": FTYPE_UINT64,
    "string": FTYPE_STRING,
    "reltime": FTYPE_RELTIME,
    "abstime": FTYPE_ABSTIME,
    "bool": FTYPE_BOOL,
    "ipaddr": FTYPE_IPADDR,
    "ipnet": FTYPE_IPNET,
}

Value = None | str | int | bytes | list[Any]


class PluginError(Exception):
    """A plugin call failed; the message is the plugin's last error."""


# ---- the C structs (plugin_api.h, checked against falco-facts §4.3) --------------------------


class _EventInput(ctypes.Structure):
    _fields_ = [("evt", ctypes.c_void_p), ("evtnum", ctypes.c_uint64), ("evtsrc", ctypes.c_char_p)]


class _ByteBuffer(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint32), ("ptr", ctypes.c_void_p)]


class _ExtractField(ctypes.Structure):
    _fields_ = [
        ("res", ctypes.c_void_p),
        ("res_len", ctypes.c_uint64),
        ("field_id", ctypes.c_uint32),
        ("field", ctypes.c_char_p),
        ("arg_key", ctypes.c_char_p),
        ("arg_index", ctypes.c_uint64),
        ("arg_present", ctypes.c_uint32),
        ("ftype", ctypes.c_uint32),
        ("flist", ctypes.c_uint32),
    ]


class _ExtractInput(ctypes.Structure):
    _fields_ = [
        ("owner", ctypes.c_void_p),
        ("get_owner_last_error", ctypes.c_void_p),
        ("num_fields", ctypes.c_uint32),
        ("fields", ctypes.POINTER(_ExtractField)),
        ("table_reader", ctypes.c_void_p * 4),
        ("table_reader_ext", ctypes.c_void_p),
        ("value_offsets", ctypes.c_void_p),
    ]


_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int)


class _InitInput(ctypes.Structure):
    _fields_ = [
        ("config", ctypes.c_char_p),
        ("owner", ctypes.c_void_p),
        ("get_owner_last_error", ctypes.c_void_p),
        ("tables", ctypes.c_void_p),
        ("log_fn", _LOG_FN),
    ]


class _MetricValue(ctypes.Union):
    _fields_ = [
        ("u32", ctypes.c_uint32),
        ("s32", ctypes.c_int32),
        ("u64", ctypes.c_uint64),
        ("s64", ctypes.c_int64),
        ("d", ctypes.c_double),
        ("f", ctypes.c_float),
        ("i", ctypes.c_int),
    ]


class _Metric(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("type", ctypes.c_int),
        ("value", _MetricValue),
        ("value_type", ctypes.c_int),
    ]


# Sizes documented in falco-facts §4.3; a mismatch here would make every test meaningless.
assert ctypes.sizeof(_EventInput) == 24
assert ctypes.sizeof(_ExtractField) == 64
assert _ExtractField.arg_present.offset == 48 and _ExtractField.flist.offset == 56
assert ctypes.sizeof(_ExtractInput) == 80 and _ExtractInput.table_reader_ext.offset == 64
assert ctypes.sizeof(_InitInput) == 40 and _InitInput.log_fn.offset == 32


# ---- helpers -------------------------------------------------------------------------------


def default_library() -> str:
    """CTBRIDGE_PLUGIN, else build/plugin/libctbridge.so under the repo root."""
    env = os.environ.get("CTBRIDGE_PLUGIN")
    if env:
        return env
    return str(Path(__file__).resolve().parents[1] / "build" / "plugin" / "libctbridge.so")


def build_event(payload: bytes, ts: int, plugin_id: int) -> bytes:
    """One plugin event exactly as Falco hands it to extract_fields (falco-facts §4.4)."""
    n = len(payload)
    header = EVENT_HEADER.pack(ts, 2**64 - 1, PAYLOAD_OFFSET + n, PLUGINEVENT_TYPE, 2)
    return header + PARAMS.pack(4, n, plugin_id) + payload


@dataclass(frozen=True)
class Event:
    ts: int
    payload: bytes
    raw: bytes  # the whole event buffer, header included


def _field_name(spec: str) -> tuple[str, str | None]:
    """'ec2.imageids[1]' -> ('ec2.imageids', '1'); 'ct.name' -> ('ct.name', None)."""
    if spec.endswith("]") and "[" in spec:
        i = spec.index("[")
        return spec[:i], spec[i + 1 : -1]
    return spec, None


class PluginLib:
    """The loaded shared object and its static (pre-init) information."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.dll = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
        d = self.dll
        for name in (
            "get_required_api_version",
            "get_version",
            "get_name",
            "get_description",
            "get_contact",
            "get_event_source",
            "get_fields",
        ):
            fn = getattr(d, "plugin_" + name)
            fn.restype, fn.argtypes = ctypes.c_char_p, []
        d.plugin_get_id.restype, d.plugin_get_id.argtypes = ctypes.c_uint32, []
        d.plugin_get_init_schema.restype = ctypes.c_char_p
        d.plugin_get_init_schema.argtypes = [ctypes.POINTER(ctypes.c_int)]
        d.plugin_init.restype = ctypes.c_void_p
        d.plugin_init.argtypes = [ctypes.POINTER(_InitInput), ctypes.POINTER(ctypes.c_int)]
        d.plugin_destroy.restype, d.plugin_destroy.argtypes = None, [ctypes.c_void_p]
        d.plugin_get_last_error.restype = ctypes.c_char_p
        d.plugin_get_last_error.argtypes = [ctypes.c_void_p]
        d.plugin_open.restype = ctypes.c_void_p
        d.plugin_open.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
        d.plugin_close.restype, d.plugin_close.argtypes = None, [ctypes.c_void_p, ctypes.c_void_p]
        d.plugin_next_batch.restype = ctypes.c_int
        d.plugin_next_batch.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_uint32),
            ctypes.POINTER(ctypes.POINTER(ctypes.c_void_p)),
        ]
        d.plugin_get_progress.restype = ctypes.c_char_p
        d.plugin_get_progress.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
        d.plugin_event_to_string.restype = ctypes.c_char_p
        d.plugin_event_to_string.argtypes = [ctypes.c_void_p, ctypes.POINTER(_EventInput)]
        d.plugin_extract_fields.restype = ctypes.c_int
        d.plugin_extract_fields.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(_EventInput),
            ctypes.POINTER(_ExtractInput),
        ]
        d.plugin_list_open_params.restype = ctypes.c_char_p
        d.plugin_list_open_params.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        d.plugin_get_metrics.restype = ctypes.POINTER(_Metric)
        d.plugin_get_metrics.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
        d.plugin_set_config.restype = ctypes.c_int
        d.plugin_set_config.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p)]
        self._fields: list[dict[str, Any]] | None = None

    def _text(self, name: str) -> str:
        raw: bytes = getattr(self.dll, "plugin_" + name)()
        return raw.decode()

    @property
    def name(self) -> str:
        return self._text("get_name")

    @property
    def version(self) -> str:
        return self._text("get_version")

    @property
    def required_api_version(self) -> str:
        return self._text("get_required_api_version")

    @property
    def id(self) -> int:
        return int(self.dll.plugin_get_id())

    @property
    def event_source(self) -> str:
        return self._text("get_event_source")

    @property
    def description(self) -> str:
        return self._text("get_description")

    @property
    def contact(self) -> str:
        return self._text("get_contact")

    def has_symbol(self, name: str) -> bool:
        return hasattr(self.dll, name)

    def fields(self) -> list[dict[str, Any]]:
        if self._fields is None:
            parsed = json.loads(self._text("get_fields"))
            assert isinstance(parsed, list)
            self._fields = parsed
        return list(self._fields)

    def init_schema(self) -> tuple[int, str]:
        kind = ctypes.c_int(-1)
        raw: bytes | None = self.dll.plugin_get_init_schema(ctypes.byref(kind))
        return kind.value, (raw or b"").decode()

    def init(self, config: str = "") -> PluginState:
        return PluginState(self, config)


class PluginState:
    """One plugin_init; collects what the plugin logs through log_fn in `logs`."""

    def __init__(self, lib: PluginLib, config: str) -> None:
        self.lib = lib
        self.logs: list[tuple[int, str]] = []

        def on_log(_owner: Any, _component: bytes | None, msg: bytes | None, sev: int) -> None:
            self.logs.append((sev, (msg or b"").decode("utf-8", "replace")))

        self._log_cb = _LOG_FN(on_log)  # kept alive as long as the state
        self._config = config.encode()
        self._init_input = _InitInput(self._config, None, None, None, self._log_cb)
        rc = ctypes.c_int(-99)
        self.handle: int | None = lib.dll.plugin_init(ctypes.byref(self._init_input), ctypes.byref(rc))
        if rc.value != SS_PLUGIN_SUCCESS:
            msg = self.last_error() if self.handle else "plugin_init returned no state"
            self.destroy()
            raise PluginError(msg)
        self._num_fields: dict[str, tuple[int, dict[str, Any]]] | None = None
        self._evtnum = 0

    def last_error(self) -> str:
        raw: bytes = self.lib.dll.plugin_get_last_error(self.handle)
        return raw.decode("utf-8", "replace")

    def destroy(self) -> None:
        if self.handle:
            self.lib.dll.plugin_destroy(self.handle)
            self.handle = None

    def set_config(self, config: str) -> None:
        arg = ctypes.c_char_p(config.encode())
        if self.lib.dll.plugin_set_config(self.handle, ctypes.byref(arg)) != SS_PLUGIN_SUCCESS:
            raise PluginError(self.last_error())

    def open(self, params: str) -> Instance:
        rc = ctypes.c_int(-99)
        h = self.lib.dll.plugin_open(self.handle, params.encode(), ctypes.byref(rc))
        if rc.value != SS_PLUGIN_SUCCESS or not h:
            raise PluginError(self.last_error())
        return Instance(self, h)

    def list_open_params(self) -> list[dict[str, Any]]:
        rc = ctypes.c_int(-99)
        raw: bytes = self.lib.dll.plugin_list_open_params(self.handle, ctypes.byref(rc))
        if rc.value != SS_PLUGIN_SUCCESS:
            raise PluginError(self.last_error())
        parsed = json.loads(raw)
        assert isinstance(parsed, list)
        return parsed

    def metrics(self) -> dict[str, int]:
        n = ctypes.c_uint32(0)
        arr = self.lib.dll.plugin_get_metrics(self.handle, ctypes.byref(n))
        out: dict[str, int] = {}
        for i in range(n.value):
            m = arr[i]
            value = m.value.u64 if m.value_type == 2 else m.value.u32 if m.value_type == 0 else m.value.s64
            out[m.name.decode()] = int(value)
        return out

    def _event_input(self, payload: bytes, evtnum: int) -> tuple[_EventInput, ctypes.Array[ctypes.c_char]]:
        buf = ctypes.create_string_buffer(build_event(payload, 1, self.lib.id), PAYLOAD_OFFSET + len(payload))
        ein = _EventInput(ctypes.addressof(buf), evtnum, self.lib.event_source.encode())
        return ein, buf

    def event_to_string(self, payload: bytes) -> str:
        self._evtnum += 1
        ein, _buf = self._event_input(payload, self._evtnum)
        raw: bytes | None = self.lib.dll.plugin_event_to_string(self.handle, ctypes.byref(ein))
        return (raw or b"").decode("utf-8", "replace")

    def _field_table(self) -> dict[str, tuple[int, dict[str, Any]]]:
        if self._num_fields is None:
            self._num_fields = {f["name"]: (i, f) for i, f in enumerate(self.lib.fields())}
        return self._num_fields

    def extract(self, payload: bytes, fields: list[str], evtnum: int = 1) -> list[Value]:
        """Values of `fields` for one event: None = absent, lists for list fields."""
        table = self._field_table()
        arr = (_ExtractField * len(fields))()
        keep: list[bytes] = []
        flists: list[bool] = []
        for i, spec in enumerate(fields):
            name, arg = _field_name(spec)
            if name not in table:
                raise KeyError(f"unknown field {name!r}")
            fid, info = table[name]
            f = arr[i]
            keep.append(name.encode())
            f.field_id, f.field = fid, keep[-1]
            f.ftype = _FTYPES[info["type"]]
            f.flist = 1 if info.get("isList") else 0
            flists.append(bool(f.flist))
            if arg is not None:
                kind = info.get("arg") or {}
                if kind.get("isIndex") and arg.isdigit():
                    f.arg_index = int(arg)
                elif kind.get("isKey"):
                    keep.append(arg.encode())
                    f.arg_key = keep[-1]
                else:
                    raise ValueError(f"field {name!r} takes no argument like {arg!r}")
                f.arg_present = 1
        ein, _buf = self._event_input(payload, evtnum)
        xin = _ExtractInput(None, None, len(fields), arr)
        rc = self.lib.dll.plugin_extract_fields(self.handle, ctypes.byref(ein), ctypes.byref(xin))
        if rc != SS_PLUGIN_SUCCESS:
            raise PluginError(self.last_error())
        return [_values(arr[i], flists[i]) for i in range(len(fields))]


def _values(f: _ExtractField, is_list: bool) -> Value:
    n = int(f.res_len)
    if n == 0:
        return None
    vals: list[Any]
    if f.ftype == FTYPE_STRING:
        strs = ctypes.cast(f.res, ctypes.POINTER(ctypes.c_char_p))
        vals = [(strs[i] or b"").decode("utf-8", "surrogateescape") for i in range(n)]
    elif f.ftype in (FTYPE_UINT64, FTYPE_RELTIME, FTYPE_ABSTIME):
        u64 = ctypes.cast(f.res, ctypes.POINTER(ctypes.c_uint64))
        vals = [int(u64[i]) for i in range(n)]
    elif f.ftype == FTYPE_BOOL:
        u32 = ctypes.cast(f.res, ctypes.POINTER(ctypes.c_uint32))
        vals = [int(u32[i]) for i in range(n)]
    else:
        bufs = ctypes.cast(f.res, ctypes.POINTER(_ByteBuffer))
        vals = [ctypes.string_at(bufs[i].ptr, bufs[i].len) for i in range(n)]
    return vals if is_list else vals[0]


class Instance:
    """One plugin_open."""

    def __init__(self, state: PluginState, handle: int) -> None:
        self.state = state
        self.handle: int | None = handle

    def next_batch(self) -> tuple[int, list[Event]]:
        dll = self.state.lib.dll
        n = ctypes.c_uint32(0)
        evts = ctypes.POINTER(ctypes.c_void_p)()
        rc = dll.plugin_next_batch(self.state.handle, self.handle, ctypes.byref(n), ctypes.byref(evts))
        if rc == SS_PLUGIN_FAILURE:
            raise PluginError(self.state.last_error())
        events: list[Event] = []
        for i in range(n.value):
            ptr = evts[i]
            ts, _tid, length, _type, _np = EVENT_HEADER.unpack(ctypes.string_at(ptr, EVENT_HEADER.size))
            raw = ctypes.string_at(ptr, length)
            events.append(Event(ts=ts, payload=raw[PAYLOAD_OFFSET:], raw=raw))
        return int(rc), events

    def read_all(self, max_calls: int = 1_000_000) -> list[Event]:
        """Every event until EOF (TIMEOUT is retried)."""
        out: list[Event] = []
        for _ in range(max_calls):
            rc, events = self.next_batch()
            out.extend(events)
            if rc == SS_PLUGIN_EOF:
                return out
        raise AssertionError("no EOF after %d next_batch calls" % max_calls)

    def progress(self) -> tuple[str, int]:
        pct = ctypes.c_uint32(0)
        raw: bytes | None = self.state.lib.dll.plugin_get_progress(self.state.handle, self.handle, ctypes.byref(pct))
        return (raw or b"").decode(), int(pct.value)

    def close(self) -> None:
        if self.handle:
            self.state.lib.dll.plugin_close(self.state.handle, self.handle)
            self.handle = None
