"""Rule test cases as data: the short record form expands into what CloudTrail writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bridge.errors import ConfigError
from bridge.rulestool.cases import enriched_lines, load_cases, load_identities

REPO = Path(__file__).resolve().parents[2]
IDENTITIES = load_identities(REPO / "rules" / "tests" / "identities.yaml")


def cases_from(tmp_path: Path, data: object) -> list:  # type: ignore[type-arg]
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(data))
    return load_cases([f], IDENTITIES)


def test_short_form_expands_to_a_cloudtrail_record(tmp_path: Path) -> None:
    [case] = cases_from(tmp_path, {"cases": [{"name": "x", "expect": ["R"], "records": [
        {"as": "attacker_role", "call": "cloudtrail:StopLogging", "request": {"name": "t"}, "error": "AccessDenied",
         "region": "eu-west-3", "at": 5}]}]})
    [rec] = case.records
    assert rec["eventSource"] == "cloudtrail.amazonaws.com" and rec["eventName"] == "StopLogging"
    assert rec["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] == "ops-automation"
    assert rec["errorCode"] == "AccessDenied" and "not authorized" in rec["errorMessage"]
    assert rec["awsRegion"] == "eu-west-3" and rec["requestParameters"] == {"name": "t"}
    assert rec["eventTime"].endswith(":00:05Z") and rec["readOnly"] is False
    assert rec["recipientAccountId"] == "111122223333" and rec["eventType"] == "AwsApiCall"
    assert case.targets == {"R"}


def test_repeat_substitutes_and_ids_are_unique(tmp_path: Path) -> None:
    cases = cases_from(tmp_path, {"cases": [
        {"name": "a", "expect": [], "for": ["R"], "records": [
            {"call": "secretsmanager:GetSecretValue", "repeat": 3, "request": {"secretId": "s-{i}"}}]},
        {"name": "b", "expect": [], "for": ["R"], "records": [{"call": "s3:ListBuckets"}]}]})
    a, b = cases
    assert [r["requestParameters"]["secretId"] for r in a.records] == ["s-1", "s-2", "s-3"]
    ids = a.event_ids + b.event_ids
    assert len(set(ids)) == 4
    assert a.records[0]["readOnly"] is True  # Get* calls are reads
    assert b.records[0]["eventTime"] > a.records[-1]["eventTime"]  # cases never share a window


def test_history_warms_the_enricher_but_is_not_sent(tmp_path: Path) -> None:
    cases = cases_from(tmp_path, {"cases": [{"name": "h", "expect": [], "for": ["R"],
                                             "history": [{"call": "s3:ListBuckets"}],
                                             "records": [{"call": "s3:ListBuckets"}]}]})
    lines = enriched_lines(cases)
    assert len(lines) == 1
    assert json.loads(lines[0])["ctb"]["first"]["principal_api"] is False


def test_bad_cases_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown record keys"):
        cases_from(tmp_path, {"cases": [{"name": "x", "expect": [], "records": [{"call": "s3:X", "colour": 1}]}]})
    with pytest.raises(ConfigError, match="unknown identity"):
        cases_from(tmp_path, {"cases": [{"name": "x", "expect": [], "records": [{"as": "nobody", "call": "s3:X"}]}]})
    with pytest.raises(ConfigError, match="needs `expect`"):
        cases_from(tmp_path, {"cases": [{"name": "x", "records": [{"call": "s3:X"}]}]})
    with pytest.raises(ConfigError, match="service:EventName"):
        cases_from(tmp_path, {"cases": [{"name": "x", "expect": [], "records": [{"call": "StopLogging"}]}]})


def test_every_bundled_case_file_loads() -> None:
    files = sorted((REPO / "rules" / "tests").glob("*.yaml"))
    cases = load_cases([f for f in files if f.name != "identities.yaml"], IDENTITIES)
    assert len(cases) > 150
    assert all(c.targets for c in cases), [c.name for c in cases if not c.targets]
