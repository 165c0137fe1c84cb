"""The enrich stage: counters per principal and window, first-seen sets, sequences, bounded memory,
state kept in SQLite across restarts, and the record's other bytes left as they were."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge.enrich import Enricher, load_config
from bridge.enrich.config import parse_config
from bridge.errors import ConfigError
from bridge.model import Record

ROLE = "arn:aws:iam::111122223333:role/app"


def rec(name: str, src: str = "ec2.amazonaws.com", *, who: str = "alice", region: str = "us-east-1",
        error: str | None = None, **extra: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "eventVersion": "1.09", "eventName": name, "eventSource": src, "awsRegion": region,
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/{who}",
                         "accountId": "111122223333", "userName": who},
        "eventType": "AwsApiCall",
    }
    if error:
        r["errorCode"] = error
    r.update(extra)
    return r


def run(e: Enricher, r: dict[str, Any], t: float) -> dict[str, Any]:
    raw = json.dumps(r, separators=(",", ":")).encode()
    out = e.process(Record(raw=raw, ts_ns=int(t * 1e9), origin="t"))
    doc: dict[str, Any] = json.loads(out.raw)
    return doc


def test_counter_counts_per_principal_within_its_window() -> None:
    e = Enricher()
    counts = [run(e, rec("GetSecretValue", "secretsmanager.amazonaws.com"), t)["ctb"]["count"]["secret_reads"]
              for t in (0, 10, 20)]
    assert counts == [1, 2, 3]
    other = run(e, rec("GetSecretValue", "secretsmanager.amazonaws.com", who="bob"), 30)
    assert other["ctb"]["count"]["secret_reads"] == 1
    later = run(e, rec("GetSecretValue", "secretsmanager.amazonaws.com"), 615)  # 0 and 10 left the window
    assert later["ctb"]["count"]["secret_reads"] == 2


def test_weighted_counter_and_denied_calls() -> None:
    e = Enricher()
    r = rec("GetParameters", "ssm.amazonaws.com",
            requestParameters={"names": [f"/p/{i}" for i in range(10)], "withDecryption": True})
    assert [run(e, r, t)["ctb"]["count"]["ssm_parameter_reads"] for t in (0, 1, 2)] == [10, 20, 30]
    plain = rec("GetParameters", "ssm.amazonaws.com", requestParameters={"names": ["/a"], "withDecryption": False})
    assert "ssm_parameter_reads" not in run(e, plain, 3)["ctb"].get("count", {})
    denied = run(e, rec("GetPasswordData", error="Client.UnauthorizedOperation"), 4)["ctb"]["count"]
    assert denied == {"password_data": 1, "denied_calls": 1}


def test_first_seen_is_true_once_per_key() -> None:
    e = Enricher()
    first = run(e, rec("DescribeInstances"), 0)["ctb"]["first"]
    assert (first["principal_region"], first["principal_api"], first["session_srcip"]) == (True, True, True)
    again = run(e, rec("DescribeInstances"), 1)["ctb"]["first"]
    assert (again["principal_region"], again["principal_api"], again["session_srcip"]) == (False, False, False)
    assert "principal_region_write" not in again  # a read: the set counts changes only
    assert run(e, rec("TerminateInstances", readOnly=False), 2)["ctb"]["first"]["principal_region_write"] is True
    moved = run(e, rec("DescribeInstances", sourceIPAddress="203.0.113.9"), 3)["ctb"]["first"]
    assert (moved["session"], moved["session_srcip"]) == (False, True)
    assert run(e, rec("DescribeInstances", region="ap-south-2"), 2)["ctb"]["first"]["principal_region"] is True


def test_assumed_role_sessions_share_the_role_as_principal() -> None:
    e = Enricher()

    def session(n: str) -> dict[str, Any]:
        r = rec("ListBuckets", "s3.amazonaws.com")
        r["userIdentity"] = {"type": "AssumedRole", "arn": f"arn:aws:sts::111122223333:assumed-role/app/{n}",
                             "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE}}}
        return r

    assert run(e, session("s1"), 0)["ctb"]["principal"] == ROLE
    assert run(e, session("s2"), 1)["ctb"]["first"]["principal_api"] is False


def test_sequence_steps_in_order_within_the_window() -> None:
    e = Enricher()
    stop, start = rec("StopInstances"), rec("StartInstances")
    modify = rec("ModifyInstanceAttribute", requestParameters={"instanceId": "i-1", "userData": "<sensitiveDataRemoved>"})
    assert run(e, modify, 0)["ctb"].get("seq") is None  # out of order: not a step yet
    assert [run(e, r, t)["ctb"]["seq"]["ec2_userdata_swap"] for r, t in ((stop, 1), (modify, 2), (start, 3))] == [1, 2, 3]
    # too slow: the window (1 h) has passed, so the modify does not advance
    run(e, stop, 100)
    assert run(e, modify, 100 + 3601)["ctb"].get("seq") is None


def test_aws_service_records_are_left_alone() -> None:
    e = Enricher()
    r = rec("AssumeRole", "sts.amazonaws.com")
    r["userIdentity"] = {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
    raw = json.dumps(r).encode()
    assert e.process(Record(raw=raw, ts_ns=0, origin="t")).raw == raw


def test_record_bytes_are_kept_and_a_forged_ctb_key_is_replaced() -> None:
    e = Enricher()
    raw = b'{"eventName":"ListBuckets",  "eventSource":"s3.amazonaws.com","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"}}'
    out = e.process(Record(raw=raw, ts_ns=0, origin="t")).raw
    assert out.startswith(raw[:-1] + b',"ctb":{')
    forged = json.dumps({**json.loads(raw), "ctb": {"count": {"secret_reads": 999}}}).encode()
    doc = json.loads(e.process(Record(raw=forged, ts_ns=1, origin="t")).raw)
    assert "secret_reads" not in doc["ctb"].get("count", {})


def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "enrich.db"
    e = Enricher(state_path=db)
    run(e, rec("GetSecretValue", "secretsmanager.amazonaws.com"), 0)
    run(e, rec("StopInstances"), 0)
    e.close()
    again = Enricher(state_path=db)
    assert run(again, rec("GetSecretValue", "secretsmanager.amazonaws.com"), 5)["ctb"]["count"]["secret_reads"] == 2
    assert run(again, rec("GetSecretValue", "secretsmanager.amazonaws.com"), 6)["ctb"]["first"]["principal_api"] is False
    modify = rec("ModifyInstanceAttribute", requestParameters={"userData": "x"})
    assert run(again, modify, 7)["ctb"]["seq"]["ec2_userdata_swap"] == 2


def test_memory_is_bounded() -> None:
    cfg = parse_config({"max_principals": 3, "max_keys": 5, "max_events_per_counter": 4,
                        "counters": [{"name": "n", "match": {"events": ["X"]}, "window": 10**6}],
                        "first_seen": [{"name": "f", "key": ["principal", "api"]}]})
    e = Enricher(cfg)
    for i in range(50):
        run(e, rec("X", who=f"u{i}"), i)
        run(e, rec("X"), i)
    assert len(e.state.principals) <= 3
    assert all(len(s) <= 5 for s in e.state.sets.values())
    assert run(e, rec("X"), 100)["ctb"]["count"]["n"] == 4  # capped at max_events_per_counter


def test_bad_config_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="errors must be"):
        parse_config({"counters": [{"name": "c", "match": {"errors": "sometimes"}}]})
    with pytest.raises(ConfigError, match="unknown key parts"):
        parse_config({"first_seen": [{"name": "f", "key": ["principal", "colour"]}]})
    bad = tmp_path / "e.yaml"
    bad.write_text("counters: [")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)


def test_identity_center_sessions_are_counted_per_person() -> None:
    e = Enricher()

    def sso(person: str) -> dict[str, Any]:
        r = rec("StartSession", "ssm.amazonaws.com")
        role = "AWSReservedSSO_AdministratorAccess_4f2a9c1d7e3b5a60"
        r["userIdentity"] = {"type": "AssumedRole", "arn": f"arn:aws:sts::111122223333:assumed-role/{role}/{person}",
                             "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role,
                                                                  "arn": f"arn:aws:iam::111122223333:role/{role}"}}}
        return r

    assert run(e, sso("ana@example.com"), 0)["ctb"]["count"]["ssm_sessions"] == 1
    assert run(e, sso("ben@example.com"), 1)["ctb"]["count"]["ssm_sessions"] == 1
    assert run(e, sso("ana@example.com"), 2)["ctb"]["principal"].endswith("/ana@example.com")
