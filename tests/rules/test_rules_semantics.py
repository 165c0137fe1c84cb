"""Which rules match which seed records, with field values from the real plugin library.

The condition evaluator (tests/rule_eval.py) stands in for Falco's rule engine (libsinsp filters)
over the small subset of the language our rules use, so this runs without Falco; the real engine
runs the same rules on the same records in tests/integration/test_replay_falco.py.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from plugin_abi import PluginLib, default_library
from rule_eval import Evaluator, fields_of, load_rules, tokenize

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "samples" / "seed"
EXPECTED = yaml.safe_load((SEED / "expected_alerts.yaml").read_text(encoding="utf-8"))


def rules_files() -> list[list[dict[str, Any]]]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((REPO / "rules").glob("*.yaml"))]


def seed_records() -> list[dict[str, Any]]:
    with gzip.open(SEED / EXPECTED["inputs"]["cloudtrail"], "rt", encoding="utf-8") as f:
        records: list[dict[str, Any]] = json.load(f)["Records"]
    for line in (SEED / EXPECTED["inputs"]["eventbridge"]).read_text(encoding="utf-8").splitlines():
        records.append(json.loads(line)["detail"])
    return records


def fields_in(text: str) -> set[str]:
    return {v for k, v in tokenize(text) if k == "field"} if text else set()


@pytest.fixture(scope="module")
def plugin() -> Iterator[Any]:
    path = default_library()
    if not Path(path).is_file():
        pytest.skip(f"plugin library {path} is not built (run `make plugin` or set CTBRIDGE_PLUGIN)")
    state = PluginLib(path).init("")
    yield state
    state.destroy()


def matches(plugin: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """(rule, eventID) -> the rule's output field values, for every rule that matches a seed record."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    rules, macros, lists = load_rules(sorted((REPO / "rules").glob("*.yaml")))
    needed = fields_of([*macros.values(), *(r["condition"] for r in rules)])
    outputs = {m.group(0)[1:] for r in rules for m in re.finditer(r"%[\w.]+(?:\[[^\]]+\])?", r["output"])}
    names = sorted(needed | outputs)
    for evtnum, record in enumerate(seed_records(), start=1):
        payload = json.dumps(record, separators=(",", ":")).encode()
        values = dict(zip(names, plugin.extract(payload, names, evtnum=evtnum), strict=True))
        for rule in rules:
            if Evaluator(macros, lists, values).run(rule["condition"]):
                found[(rule["rule"], record["eventID"])] = values
    return found


def test_evaluator_follows_falco_semantics() -> None:
    values = {"ct.error": None, "ct.name": "PutBucketAcl", "ct.request": '{"a":"AllUsers"}'}
    ev = Evaluator({"m": 'ct.request contains "AllUsers"'}, {"l": ["PutBucketAcl"]}, values)
    assert ev.run('ct.name = "PutBucketAcl" and not ct.error exists and m')
    assert ev.run("ct.name in (l)") and ev.run("ct.name in (x, PutBucketAcl)")
    assert not ev.run('ct.error != "x"')  # an absent field fails every comparison
    assert not ev.run('ct.name = "CreateBucket" or (ct.error exists)')
    numbers = Evaluator({}, {}, {"ctb.count[n]": 20, "ct.user": "bob", "ct.request.username": "bob",
                                 "ct.srcip": "10.0.0.1", "ct.region": None})
    assert numbers.run("ctb.count[n] >= 20") and not numbers.run("ctb.count[n] > 20")
    assert numbers.run("ct.request.username = val(ct.user)") and not numbers.run("ct.srcip = val(ct.region)")
    assert numbers.run('ct.srcip glob "10.*"') and not numbers.run('ct.srcip glob "192.*"')


def test_seed_raises_exactly_the_expected_alerts(plugin: Any) -> None:
    found = matches(plugin)
    wanted = {(a["rule"], a["event_id"]) for a in EXPECTED["alerts"]}
    assert sorted(found) == sorted(wanted)
    quiet = {q["event_id"] for q in EXPECTED["quiet"]}
    assert not quiet & {eid for _, eid in found}
    for alert in EXPECTED["alerts"]:
        values = found[(alert["rule"], alert["event_id"])]
        for field, value in alert["output_fields"].items():
            assert str(values[field]) == str(value), f"{alert['rule']}: {field}"


def test_public_policy_variants(plugin: Any) -> None:
    # The statement-by-statement check: which bucket policies count as public.
    items = yaml.safe_load((REPO / "rules" / "aws_s3.yaml").read_text(encoding="utf-8"))
    macros = {i["macro"]: i["condition"] for i in items if "macro" in i}
    cond = macros["aws_s3_policy_is_public"]
    names = sorted({f for c in macros.values() for f in fields_in(c)})

    def public(statement: Any) -> bool:
        record = {"eventName": "PutBucketPolicy", "requestParameters": {"bucketPolicy": {"Statement": statement}}}
        payload = json.dumps(record, separators=(",", ":")).encode()
        values = dict(zip(names, plugin.extract(payload, names), strict=True))
        return Evaluator(macros, {}, values).run(cond)

    allow = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    deny = {**allow, "Effect": "Deny"}
    role = {"AWS": "arn:aws:iam::1:role/R"}
    assert public([{**allow, "Principal": "*"}])
    assert public([{**allow, "Principal": {"AWS": "*"}}])
    assert public([{**allow, "Principal": {"AWS": ["arn:aws:iam::1:root", "*"]}}])
    assert public({**allow, "Principal": "*"})  # a single statement object
    assert public([{**allow, "Principal": role}] * 4 + [{**allow, "Principal": "*"}])  # the fifth
    assert public([{**allow, "Principal": role}] * 6 + [{**allow, "Principal": "*"}])  # long: text match
    assert not public([{**deny, "Principal": "*"}, {**allow, "Principal": role}])
    assert not public([{**allow, "Principal": role}])


def test_plugin_reads_the_seed_file_and_init_config(plugin: Any) -> None:
    # What the file:// integration test feeds Falco: every record of the log file, in order.
    falco_yaml = yaml.safe_load((REPO / "falco_config" / "falco.yaml").read_text(encoding="utf-8"))
    state = PluginLib(default_library()).init(json.dumps(falco_yaml["plugins"][0]["init_config"]))
    try:
        inst = state.open(f"file://{SEED / EXPECTED['inputs']['cloudtrail']}")
        try:
            events = inst.read_all()
        finally:
            inst.close()
    finally:
        state.destroy()
    ids = [json.loads(e.payload)["eventID"] for e in events]
    assert ids == [r["eventID"] for r in seed_records()[:-1]]  # the last one is the EventBridge detail
