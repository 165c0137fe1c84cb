"""Enricher: adds {"ctb": {...}} to each record from counters, first-seen sets and sequences."""

from __future__ import annotations

import fnmatch
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from bridge.enrich.config import EnrichConfig, Match, load_config
from bridge.enrich.state import State
from bridge.model import Record

RESERVED_KEY = "ctb"
_SERVICE_TYPES = {"AWSService", "AWSAccount"}


def pointer(obj: Any, ptr: str) -> Any:
    """RFC 6901 lookup; None when missing."""
    if ptr == "":
        return obj
    for raw in ptr.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
        if obj is None:
            return None
    return obj


def principal_of(rec: dict[str, Any], per_session: tuple[str, ...] = ()) -> str:
    """The role for assumed-role sessions (sessions come and go), except roles matching
    `per_session` (Identity Center permission sets: the session is the person); else the ARN,
    else a composite."""
    ident = rec.get("userIdentity") or {}
    if not isinstance(ident, dict):
        return "unknown"
    if ident.get("type") == "AssumedRole":
        issuer = pointer(ident, "/sessionContext/sessionIssuer/arn")
        role = pointer(ident, "/sessionContext/sessionIssuer/userName")
        per_person = isinstance(role, str) and any(fnmatch.fnmatchcase(role, p) for p in per_session)
        if isinstance(issuer, str) and issuer and not per_person:
            return issuer
    arn = ident.get("arn")
    if isinstance(arn, str) and arn:
        return arn
    name = ident.get("userName") or ident.get("principalId") or ident.get("invokedBy") or ""
    acct = ident.get("accountId") or rec.get("recipientAccountId") or ""
    return f"{acct}:{ident.get('type', '')}:{name}"


T = TypeVar("T")
_Index = tuple[dict[str, list[T]], list[T]]


def _index(items: Iterable[T], matches: Callable[[T], tuple[Match, ...]]) -> _Index[T]:
    """eventName -> the items one of whose matches names it; plus the items that match any name.
    Config order is kept, so the output is the same as looking at every item."""
    by_name: dict[str, list[T]] = {}
    anywhere: list[T] = []
    ordered = list(items)
    for item in ordered:
        ms = matches(item)
        if any(not m.events for m in ms):
            anywhere.append(item)
            continue
        for m in ms:
            for e in m.events:
                bucket = by_name.setdefault(e.rpartition(":")[2], [])
                if not bucket or bucket[-1] is not item:
                    bucket.append(item)
    if anywhere:  # keep config order across the two lists
        rank = {id(x): i for i, x in enumerate(ordered)}
        for name, bucket in by_name.items():
            by_name[name] = sorted(set(bucket + anywhere).__iter__(), key=lambda x: rank[id(x)])
    return by_name, anywhere


def _candidates(index: _Index[T], name: Any) -> list[T]:
    by_name, anywhere = index
    return by_name.get(name, anywhere) if isinstance(name, str) else anywhere


def _matches(m: Match, rec: dict[str, Any]) -> bool:
    if m.events:
        name, src = rec.get("eventName", ""), rec.get("eventSource", "")
        if not any(e == name or e == f"{src}:{name}" for e in m.events):
            return False
    err = rec.get("errorCode")
    if m.errors == "none" and err:
        return False
    if m.errors == "only" and (not err or (m.error_codes and err not in m.error_codes)):
        return False
    for p in m.present:
        if pointer(rec, p) in (None, "", {}, []):
            return False
    for p, want in m.equals:
        got = pointer(rec, p)
        if (str(got).lower() if isinstance(got, bool) else got) != want:
            return False
    return True


class Enricher:
    """Call process() on every record in order; close() (or save()) persists the state."""

    def __init__(self, config: EnrichConfig | None = None, state_path: str | Path | None = None,
                 save_interval: float = 30.0) -> None:
        self.config = config or load_config()
        self.state = State(self.config.max_principals, self.config.max_keys)
        self.state_path = Path(state_path) if state_path else None
        if self.state_path:
            self.state.load(self.state_path)
        self._save_interval = save_interval
        self._last_save = time.monotonic()
        # Most records match nothing: look only at what can match this eventName.
        self._counters = _index(self.config.counters, lambda c: (c.match,))
        self._firsts = _index(self.config.first_seen, lambda f: (f.match,))
        self._seqs = _index(self.config.sequences, lambda s: s.steps)

    def enrich(self, rec: dict[str, Any], ts: float) -> dict[str, Any] | None:
        """The "ctb" object for one parsed record, or None when nothing applies."""
        cfg = self.config
        ident = rec.get("userIdentity") if isinstance(rec.get("userIdentity"), dict) else {}
        if cfg.skip_service_principals and (ident or {}).get("type") in _SERVICE_TYPES:
            return None
        principal = principal_of(rec, cfg.per_session_roles)
        out: dict[str, Any] = {"principal": principal}
        pst = None
        counts: dict[str, int] = {}
        name = rec.get("eventName", "")
        for c in _candidates(self._counters, name):
            if not _matches(c.match, rec):
                continue
            pst = pst or self.state.principal(principal)
            weight = 1
            if c.weight:
                items = pointer(rec, c.weight)
                weight = max(1, len(items)) if isinstance(items, list) else 1
            q = pst.counts.setdefault(c.name, deque())
            q.append((ts, weight))
            while q and q[0][0] <= ts - c.window:
                q.popleft()
            while len(q) > cfg.max_events_per_counter:
                q.popleft()
            counts[c.name] = sum(w for _, w in q)
        firsts: dict[str, bool] = {}
        for f in _candidates(self._firsts, name):
            if _matches(f.match, rec):
                key = "|".join(self._part(p, principal, rec) for p in f.key)
                firsts[f.name] = self.state.first(f.name, key)
        seqs: dict[str, int] = {}
        for s in _candidates(self._seqs, name):
            pst = pst or self.state.principal(principal)
            done, start = pst.seqs.get(s.name, (0, ts))
            if done and (ts - start > s.window or done == len(s.steps)):
                done = 0
            if done < len(s.steps) and done > 0 and _matches(s.steps[done], rec):
                done += 1
            elif _matches(s.steps[0], rec):
                done, start = 1, ts
            else:
                continue
            pst.seqs[s.name] = (done, start)
            seqs[s.name] = done
        if counts:
            out["count"] = counts
        if firsts:
            out["first"] = firsts
        if seqs:
            out["seq"] = seqs
        return out

    @staticmethod
    def _part(part: str, principal: str, rec: dict[str, Any]) -> str:
        if part == "principal":
            return principal
        if part == "session":
            ident = rec.get("userIdentity")
            return str(ident.get("arn", "")) if isinstance(ident, dict) else ""
        if part == "api":
            return f"{rec.get('eventSource', '')}:{rec.get('eventName', '')}"
        field = {"region": "awsRegion", "source": "eventSource", "srcip": "sourceIPAddress",
                 "useragent": "userAgent", "account": "recipientAccountId"}[part]
        return str(rec.get(field, ""))

    def process(self, record: Record) -> Record:
        """The record with "ctb" added as its last top-level key; other bytes unchanged."""
        try:
            rec = orjson.loads(record.raw)
        except orjson.JSONDecodeError:
            return record  # the plugin quarantines what it cannot parse
        if not isinstance(rec, dict):
            return record
        extra = self.enrich(rec, record.ts_ns / 1e9)
        self._maybe_save()
        if extra is None and RESERVED_KEY not in rec:
            return record
        if RESERVED_KEY in rec:  # never let a record carry its own enrichment values
            rec.pop(RESERVED_KEY)
            if extra is not None:
                rec[RESERVED_KEY] = extra
            raw = orjson.dumps(rec)
        else:
            body = record.raw.rstrip()
            glue = b"," if body[:-1].strip() not in (b"{", b"") else b""
            raw = body[:-1] + glue + b'"ctb":' + orjson.dumps(extra) + b"}"
        return Record(raw=raw, ts_ns=record.ts_ns, origin=record.origin, event_id=record.event_id)

    def _maybe_save(self) -> None:
        if self.state_path and time.monotonic() - self._last_save >= self._save_interval:
            self.save()

    def save(self) -> None:
        if self.state_path:
            self.state.save(self.state_path)
            self._last_save = time.monotonic()

    def close(self) -> None:
        self.save()
