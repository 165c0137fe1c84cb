"""Rule test cases as data (rules/tests/*.yaml), expanded into CloudTrail records.

A case file holds `cases:`, each with a name, the rules it is `for` (default: those it expects),
the rules it `expect`s to fire (exactly those, over all its records; [] = none) and its `records`.
A record is either `raw:` (a whole CloudTrail record) or a short form that expands into what
CloudTrail writes:

  as: attacker                 # identity from rules/tests/identities.yaml (userIdentity, ip, agent)
  call: cloudtrail:StopLogging # eventSource (".amazonaws.com" added) and eventName
  request: {...}               # requestParameters (default null)
  response: {...}              # responseElements (default null)
  error: AccessDenied          # errorCode (errorMessage filled in unless `message:` is given)
  region, ip, agent, at        # awsRegion, sourceIPAddress, userAgent, seconds after the case start
  additional: {...}            # additionalEventData
  set: {...}                   # any other top-level keys, merged last
  repeat: N                    # N copies, one second apart; "{i}" in strings becomes 1..N

A case may also give `history:` records (same forms): they go through the enrich stage first, to
warm its state (what a principal did yesterday), and are not sent to Falco.

Every record gets a unique eventID, so Falco's alerts map back to their case by ct.id.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bridge.enrich import Enricher
from bridge.errors import ConfigError
from bridge.model import Record

BASE_TIME = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
CASE_SPACING = timedelta(hours=3)  # cases never share an enrichment window
_NS = uuid.UUID("6f1c1a9e-8f0b-4d1e-9a57-0c7e1b2d3f40")
_READ_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup", "Search", "BatchGet")
RECORD_KEYS = {"as", "call", "request", "response", "error", "message", "region", "ip", "agent", "at",
               "additional", "set", "repeat", "raw", "readonly", "type"}
CASE_KEYS = {"name", "for", "expect", "records", "history", "stratus", "enrich", "note"}


@dataclass
class Case:
    name: str
    file: str
    expect: set[str]
    targets: set[str]  # the rules this case is about (positive when expected, negative otherwise)
    records: list[dict[str, Any]]
    history: list[dict[str, Any]] = field(default_factory=list)
    stratus: list[str] = field(default_factory=list)
    enrich: bool = True

    @property
    def event_ids(self) -> list[str]:
        return [str(r["eventID"]) for r in self.records]


def _subst(value: Any, i: int) -> Any:
    if isinstance(value, str):
        return value.replace("{i}", str(i))
    if isinstance(value, list):
        return [_subst(v, i) for v in value]
    if isinstance(value, dict):
        return {k: _subst(v, i) for k, v in value.items()}
    return value


def _source(call: str) -> tuple[str, str]:
    src, _, name = call.rpartition(":")
    if not src or not name:
        raise ConfigError(f"call {call!r}: expected service:EventName, e.g. cloudtrail:StopLogging")
    return (src if "." in src else f"{src}.amazonaws.com"), name


def expand_record(spec: dict[str, Any], identities: dict[str, Any], start: datetime, where: str) -> dict[str, Any]:
    unknown = set(spec) - RECORD_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown record keys {sorted(unknown)} (valid: {sorted(RECORD_KEYS)})")
    at = start + timedelta(seconds=float(spec.get("at", 0)))
    if "raw" in spec:
        rec: dict[str, Any] = copy.deepcopy(spec["raw"])
        rec.setdefault("eventTime", at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return rec
    who = spec.get("as", "attacker")
    if who not in identities:
        raise ConfigError(f"{where}: unknown identity {who!r} (known: {sorted(identities)})")
    ident = identities[who]
    src, name = _source(str(spec.get("call", "")))
    user = copy.deepcopy(ident["userIdentity"])
    account = user.get("accountId") or ident.get("account", "111122223333")
    rec = {
        "eventVersion": "1.09",
        "userIdentity": user,
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": src,
        "eventName": name,
        "awsRegion": spec.get("region", ident.get("region", "us-east-1")),
        "sourceIPAddress": spec.get("ip", ident.get("ip", "198.51.100.23")),
        "userAgent": spec.get("agent", ident.get("agent", "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64")),
    }
    if "error" in spec:
        rec["errorCode"] = spec["error"]
        rec["errorMessage"] = spec.get("message", f"User: {user.get('arn', 'unknown')} is not authorized to perform: "
                                                  f"{src.split('.')[0]}:{name}")
    rec["requestParameters"] = spec.get("request")
    rec["responseElements"] = spec.get("response")
    if "additional" in spec:
        rec["additionalEventData"] = spec["additional"]
    rec.update({
        "requestID": str(uuid.uuid5(_NS, where + "/req")),
        "eventID": "",
        "readOnly": bool(spec.get("readonly", name.startswith(_READ_PREFIXES))),
        "eventType": spec.get("type", "AwsApiCall"),
        "managementEvent": True,
        "recipientAccountId": ident.get("recipient", account),
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{src.split('.')[0]}.{rec['awsRegion']}.amazonaws.com"},
    })
    rec.update(copy.deepcopy(spec.get("set") or {}))
    return rec


def load_identities(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    return dict(data or {})


def load_cases(paths: list[Path], identities: dict[str, Any]) -> list[Case]:
    cases: list[Case] = []
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
        for n, c in enumerate(data.get("cases") or []):
            where = f"{path.name}#{n} {c.get('name', '?')!r}"
            unknown = set(c) - CASE_KEYS
            if unknown:
                raise ConfigError(f"{where}: unknown case keys {sorted(unknown)} (valid: {sorted(CASE_KEYS)})")
            if "expect" not in c or not c.get("records"):
                raise ConfigError(f"{where}: a case needs `expect` (a list, [] for none) and `records`")
            start = BASE_TIME + CASE_SPACING * len(cases)
            records = _expand_all(c["records"], identities, start, f"{path.name}/{n}", where)
            # history happens a day earlier, so no counter window reaches into the case
            history = _expand_all(c.get("history") or [], identities, start - timedelta(days=1),
                                  f"{path.name}/{n}/history", where)
            expect = set(c["expect"] or [])
            cases.append(Case(
                name=str(c["name"]), file=path.name, expect=expect,
                targets=set(c.get("for") or expect), records=records, history=history,
                stratus=list(c.get("stratus") or []), enrich=bool(c.get("enrich", True)),
            ))
    return cases


def _expand_all(specs: list[dict[str, Any]], identities: dict[str, Any], start: datetime, key: str,
                where: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for k, spec in enumerate(specs):
        copies = int(spec.get("repeat", 1))
        for i in range(1, copies + 1):
            one = _subst({k2: v for k2, v in spec.items() if k2 != "repeat"}, i)
            if copies > 1:
                one["at"] = float(spec.get("at", 0)) + i - 1
            rec = expand_record(one, identities, start, f"{where} record {k}")
            rec["eventID"] = str(uuid.uuid5(_NS, f"{key}/{k}/{i}"))
            records.append(rec)
    return records


def enriched_lines(cases: list[Case]) -> list[str]:
    """One JSON line per record, each case through a fresh enricher (unless it opts out)."""
    lines: list[str] = []
    for case in cases:
        enricher = Enricher() if case.enrich else None
        for rec in case.history if enricher else []:
            _enrich(enricher, rec, case.name)
        for rec in case.records:
            lines.append(_enrich(enricher, rec, case.name).decode())
    return lines


def _enrich(enricher: Enricher | None, rec: dict[str, Any], origin: str) -> bytes:
    raw = json.dumps(rec, separators=(",", ":")).encode()
    if enricher is None:
        return raw
    ts = datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return enricher.process(Record(raw=raw, ts_ns=int(ts.timestamp()) * 10**9, origin=origin)).raw
