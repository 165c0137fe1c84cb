"""Property tests: log-file parsing and envelope detection (bridge/normalize/logfile.py,
envelopes.py), on generated CloudTrail records and on arbitrary bytes.

- Any bytes under any name: only Records and BadItems come out, nothing raises.
- Generated records, in every shape CloudTrail arrives in (log file, JSON lines, EventBridge
  events, arrays of them, gzip or not), come out once each, in order, with the same JSON value,
  the eventTime in ns and the eventID.
- Record size: at the limit a Record, one byte over a BadItem naming the limit.
- Nesting far beyond the limit: a BadItem, never a RecursionError.
- RFC 3339 timestamps agree with datetime for every instant and offset.
"""

from __future__ import annotations

import datetime
import gzip
import json
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bridge.model import BadItem, Blob, Record
from bridge.normalize.envelopes import unwrap
from bridge.normalize.logfile import MAX_DEPTH, parse_rfc3339_ns, records_from_blob

NAMES = ["a.json", "a.json.gz", "a.jsonl", "a.jsonl.gz", "a.ndjson", "noext", "a.txt.gz"]

# JSON values as CloudTrail's attacker-controlled fields may hold them: any text (lone surrogates
# included), integers beyond 64 bits, nesting.
scalars = (st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.text(max_size=20)
           | st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
instants = st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(2200, 1, 1),
                        timezones=st.just(datetime.UTC))


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    t = draw(instants)
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventName": draw(st.text(max_size=12)),
        "eventSource": "s3.amazonaws.com",
        "eventID": draw(st.uuids()).hex,
    }
    rec.update(draw(st.dictionaries(st.text(max_size=10).filter(lambda k: k not in rec), values, max_size=4)))
    return rec


def _wrap(recs: list[dict[str, Any]], shape: str) -> tuple[str, bytes]:
    dumps = lambda v: json.dumps(v)  # noqa: E731 - ASCII escapes keep lone surrogates writable
    if shape == "log":
        return "f.json", dumps({"Records": recs}).encode()
    if shape == "lines":
        return "f.jsonl", "".join(dumps(r) + "\n" for r in recs).encode()
    if shape == "eventbridge-lines":
        return "f.jsonl", "".join(dumps({"detail-type": "AWS API Call via CloudTrail", "detail": r}) + "\n"
                                  for r in recs).encode()
    if shape == "array":
        return "f.json", dumps(recs).encode()
    # mixed: an array holding a log file (first record), an EventBridge event (second), bare records
    items: list[Any] = [{"Records": recs[:1]}]
    if len(recs) > 1:
        items.append({"detail-type": "AWS API Call via CloudTrail", "detail": recs[1]})
    return "f.json", dumps(items + recs[2:]).encode()


def _collect(blob: Blob, **kw: int) -> list[Record | BadItem]:
    out = list(records_from_blob(blob, **kw))
    assert all(isinstance(i, (Record, BadItem)) for i in out)
    return out


@given(st.binary(max_size=400), st.sampled_from(NAMES))
def test_any_bytes_give_records_or_bad_items(data: bytes, name: str) -> None:
    _collect(Blob(name, data))
    _collect(Blob(name, gzip.compress(data, mtime=0)))


@given(st.lists(records(), min_size=1, max_size=5),
       st.sampled_from(["log", "lines", "eventbridge-lines", "array", "mixed"]), st.booleans())
@settings(max_examples=150, deadline=None)
def test_every_record_comes_out_once_in_order_as_written(recs: list[dict[str, Any]], shape: str, gz: bool) -> None:
    name, data = _wrap(recs, shape)
    if gz:
        name, data = name + ".gz", gzip.compress(data, mtime=0)
    out = _collect(Blob(name, data))
    assert [type(i) for i in out] == [Record] * len(recs), [i.reason for i in out if isinstance(i, BadItem)]
    for want, got in zip(recs, out, strict=True):
        assert isinstance(got, Record)
        assert json.loads(got.raw) == want
        assert got.event_id == want["eventID"]
        assert got.ts_ns == int(datetime.datetime.fromisoformat(want["eventTime"]).timestamp()) * 10**9


@given(records(), st.integers(0, 3))
@settings(deadline=None)
def test_record_size_limit_at_and_beyond(rec: dict[str, Any], over: int) -> None:
    raw_len = len(list(records_from_blob(Blob("f.jsonl", json.dumps(rec).encode())))[0].raw)
    at = _collect(Blob("f.jsonl", json.dumps(rec).encode()), max_record_bytes=raw_len)
    assert isinstance(at[0], Record)
    if over:
        beyond = _collect(Blob("f.jsonl", json.dumps(rec).encode()), max_record_bytes=raw_len - over)
        assert isinstance(beyond[0], BadItem)
        assert f"over the {raw_len - over} byte record limit" in beyond[0].reason


@given(st.integers(MAX_DEPTH + 1, 50_000), st.sampled_from(["[", '{"a":']), st.sampled_from(NAMES[:3]))
@settings(max_examples=20, deadline=None)
def test_deep_nesting_is_a_bad_item_not_a_crash(depth: int, opener: str, name: str) -> None:
    closer = "]" if opener == "[" else "}"
    inner = opener * depth + "1" + closer * depth
    doc = '{"eventTime":"2024-01-01T00:00:00Z","eventID":"x","eventName":"n","deep":' + inner + "}"
    data = doc.encode() if not name.endswith(".gz") else gzip.compress(doc.encode(), mtime=0)
    out = _collect(Blob(name, data))
    assert len(out) == 1 and isinstance(out[0], BadItem)
    assert "deep" in out[0].reason or "depth" in out[0].reason, out[0].reason


@given(values)
def test_unwrap_raises_only_input_error(value: Any) -> None:
    from bridge.errors import InputError
    try:
        unwrap(value)
    except InputError:
        pass


@given(st.datetimes(min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(9998, 12, 30)),
       st.integers(-23 * 60 - 59, 23 * 60 + 59), st.integers(0, 999_999_999), st.integers(0, 9))
def test_rfc3339_agrees_with_datetime(t: datetime.datetime, offset_min: int, ns: int, digits: int) -> None:
    assume(digits == 0 or ns % 10 ** (9 - digits) == 0)
    tz = datetime.timezone(datetime.timedelta(minutes=offset_min))
    local = t.replace(microsecond=0, tzinfo=tz)
    frac = f".{ns // 10 ** (9 - digits):0{digits}d}" if digits else ""
    sign = "+" if offset_min >= 0 else "-"
    off = f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + frac + off
    want = (int(local.timestamp()) * 10**9) + (ns if digits else 0)
    assert parse_rfc3339_ns(text) == want
    assert parse_rfc3339_ns(text.replace(off, "Z")) == want + offset_min * 60 * 10**9
