"""S3 source against moto (server mode, over HTTP) into the real plugin: exact eventIDs delivered."""

from __future__ import annotations

import datetime
import gzip
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from ct import PluginFalco, daemon_config, key_for, log_file, record, run_daemon

from bridge.deliver.checkpoints import Checkpoints
from bridge.errors import ConfigError
from bridge.sources._config import DaemonConfig

NOW = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
A1, A2 = "111111111111", "222222222222"


def _s3(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def org_bucket(endpoint: str, bucket: str = "trail") -> dict[str, list[str]]:
    """An organization trail plus a per-account trail in one bucket: accounts x regions x days,
    gzip and plain files, digests, Insights, and a stray key. Returns eventIDs by kind."""
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket=bucket)
    ids: dict[str, list[str]] = {"trail": [], "insight": []}
    n = 0
    for account, org in ((A1, "o-abcdefghij"), (A2, None)):
        for region in ("us-east-1", "eu-west-1"):
            for age in (datetime.timedelta(days=1, hours=2), datetime.timedelta(hours=2)):
                when = NOW - age
                recs = [record(f"{account}-{region}-{n}-{i}", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
                        for i in range(3)]
                n += 1
                key = key_for(account, region, when, f"U{n}", org=org)
                body = log_file(recs, gz=n % 2 == 0)
                if n % 2:
                    key = key.removesuffix(".gz")
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                ids["trail"] += [r["eventID"] for r in recs]
            day = NOW - datetime.timedelta(hours=2)
            digest = key_for(account, region, day, "D1", org=org, kind="CloudTrail-Digest")
            s3.put_object(Bucket=bucket, Key=digest, Body=gzip.compress(b'{"digestStartTime":"x"}'))
    insight_when = NOW - datetime.timedelta(hours=1)
    irec = record("insight-1", insight_when.strftime("%Y-%m-%dT%H:%M:%SZ"), eventType="AwsCloudTrailInsight")
    s3.put_object(Bucket=bucket, Key=key_for(A1, "us-east-1", insight_when, "I1", kind="CloudTrail-Insight"),
                  Body=log_file([irec]))
    ids["insight"].append("insight-1")
    stray = f"AWSLogs/o-abcdefghij/{A1}/CloudTrail/us-east-1/{NOW:%Y/%m/%d}/notes.txt"
    s3.put_object(Bucket=bucket, Key=stray, Body=b"hello")
    return ids


def s3_source(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {"type": "s3", "name": "trail", "bucket": "trail", "endpoint_url": endpoint, "region": "us-east-1",
            "since": "3d", "once": True, **extra}


def test_org_trail_every_record_once_and_never_again(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    ids = org_bucket(aws)
    state = tmp_path / "state.db"
    cfg = daemon_config(falco.sock, state, [s3_source(aws)], quarantine=tmp_path / "q")
    report = run_daemon(cfg)
    assert sorted(falco.ids()) == sorted(ids["trail"])  # no digest, no Insight, nothing twice
    assert report.acked == len(ids["trail"]) == 24
    assert report.works_done == 8
    assert report.quarantined == 1  # notes.txt: not a CloudTrail file
    reasons = [p.read_text() for p in (tmp_path / "q").glob("*.reason.json")]
    assert len(reasons) == 1 and "not a CloudTrail log file name" in reasons[0]

    # A second run lists again and reads nothing: every object is complete in the checkpoints.
    report = run_daemon(cfg)
    assert report.records == 0 and len(falco.ids()) == 24
    cp = Checkpoints(state)
    assert len([n for n in cp.complete_names() if n.endswith((".json", ".json.gz"))]) == 8


def test_record_bytes_reach_the_plugin_as_written(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    s3 = _s3(aws)
    s3.create_bucket(Bucket="trail")
    when = NOW - datetime.timedelta(hours=1)
    # Non-canonical JSON on purpose: spaces, escapes, a float written 1.50; re-encoding would change them.
    raw = (b'{"eventVersion":"1.09", "eventTime":"' + when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
           + b'","eventID":"raw-1","eventType":"AwsApiCall","requestParameters":{"k":"\\u00e9","n":1.50}}')
    s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", when, "R1"),
                  Body=gzip.compress(b'{"Records":[' + raw + b"]}"))
    run_daemon(daemon_config(falco.sock, tmp_path / "s.db", [s3_source(aws)]))
    assert falco.payloads == [raw]


def test_filters_accounts_regions_and_insights(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    ids = org_bucket(aws)
    cfg = daemon_config(falco.sock, tmp_path / "s.db",
                        [s3_source(aws, accounts=[A1], regions=["us-east-1"], insights=True)])
    run_daemon(cfg)
    want = [i for i in ids["trail"] if i.startswith(f"{A1}-us-east-1-")] + ids["insight"]
    assert sorted(falco.ids()) == sorted(want)


def test_late_file_is_picked_up_by_the_next_poll(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    s3 = _s3(aws)
    s3.create_bucket(Bucket="trail")
    t1, t2 = NOW - datetime.timedelta(minutes=30), NOW - datetime.timedelta(minutes=10)
    s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", t2, "B"), Body=log_file([record("b")]))
    cfg = daemon_config(falco.sock, tmp_path / "s.db", [s3_source(aws)])
    run_daemon(cfg)
    # A file named by an earlier time than the one already read arrives late.
    s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", t1, "A"), Body=log_file([record("a")]))
    run_daemon(cfg)
    assert falco.ids() == ["b", "a"]


def test_bad_objects_are_quarantined_and_the_rest_delivered(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    s3 = _s3(aws)
    s3.create_bucket(Bucket="trail")
    t = NOW - datetime.timedelta(minutes=30)
    good = log_file([record("g1"), record("g2")])
    big = record("big", requestParameters={"blob": "x" * (10 * 1024 * 1024)})
    bodies = {
        "corrupt": gzip.compress(b'{"Records":[' + orjson.dumps(record("c0")) + b"]}")[:-12] + b"garbage!" * 2,
        "truncated": b'{"Records":[' + orjson.dumps(record("t0")) + b',{"eventVersion":"1.0',
        "latin1": b'{"Records":[' + orjson.dumps(record("l0")) + b',{"eventVersion":"1","eventTime":"'
                  + t.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + b'","eventID":"l1","x":"caf\xe9"}]}',
        "big": log_file([record("b0"), big, record("b2")]),
        "empty": b"",
        "good": good,
    }
    for n, (name, body) in enumerate(bodies.items()):
        s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", t, f"{name}{n}").replace(".gz", ".gz"), Body=body)
    q = tmp_path / "q"
    report = run_daemon(daemon_config(falco.sock, tmp_path / "s.db", [s3_source(aws)], quarantine=q))
    assert sorted(falco.ids()) == sorted(["t0", "l0", "b0", "b2", "g1", "g2"])
    reasons = "\n".join(p.read_text() for p in q.glob("*.reason.json"))
    assert "corrupt gzip" in reasons or "truncated gzip" in reasons
    assert "truncated JSON" in reasons
    assert "UTF-8" in reasons
    assert "byte record limit" in reasons
    assert "empty input" in reasons
    assert report.quarantined == 5


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    from bridge.config import from_dict

    base = {"falco": {"socket": "/x"}}
    with pytest.raises(ConfigError, match=r"sources\[0\].bucket .*CTBRIDGE__SOURCES__0__BUCKET.*required"):
        from_dict(DaemonConfig, {**base, "sources": [{"type": "s3"}]}, "")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.type: unknown source type 'kinesis' \(valid: .*s3.*sqs"):
        from_dict(DaemonConfig, {**base, "sources": [{"type": "kinesis"}]}, "")
    with pytest.raises(ConfigError, match=r"sources\[0\].accounts.*'12345' is not a 12-digit account ID"):
        from_dict(DaemonConfig, {**base, "sources": [{"type": "s3", "bucket": "b", "accounts": ["12345"]}]}, "")
    with pytest.raises(ConfigError, match=r"unknown key 'sorces'"):
        from_dict(DaemonConfig, {**base, "sorces": []}, "")
    # The other stages' sections are accepted as given.
    cfg = from_dict(DaemonConfig, {**base, "sources": [{"type": "s3", "bucket": "b"}], "routes": [{"x": 1}],
                                   "destinations": {}, "intake": {}, "queue": {}, "enrich": {}}, "")
    assert cfg.routes == [{"x": 1}]


def test_assume_role_for_a_cross_account_bucket(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    s3 = _s3(aws)
    s3.create_bucket(Bucket="trail")
    when = NOW - datetime.timedelta(minutes=10)
    s3.put_object(Bucket="trail", Key=key_for(A2, "us-east-1", when, "X"), Body=log_file([record("x1")]))
    role = {"role_arn": "arn:aws:iam::222222222222:role/ctbridge-read", "external_id": "ext-1",
            "session_name": "ctbridge-test"}
    report = run_daemon(daemon_config(falco.sock, tmp_path / "s.db", [s3_source(aws, assume_role=role)]))
    assert falco.ids() == ["x1"] and report.works_done == 1
    with pytest.raises(ConfigError, match=r"assume_role.role_arn.*not an ARN"):
        daemon_config(falco.sock, tmp_path / "s.db", [s3_source(aws, assume_role={"role_arn": "ctbridge"})])


def test_whole_files_split_as_bytes_keep_dedup_window_and_positions(aws: str, falco: PluginFalco,
                                                                   tmp_path: Path) -> None:
    """Objects CloudTrail wrote go through the packed path (split as bytes, no Record each): repeats
    inside a file and across files are dropped, records outside [since, until) too, and a
    restart resuming inside a file sends only what follows the checkpoint."""
    s3 = _s3(aws)
    s3.create_bucket(Bucket="trail")
    t = NOW - datetime.timedelta(minutes=30)
    inside = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    early = (t - datetime.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    a = [record("p1", inside), record("p2", inside), record("p1", inside), record("old", early), record("p3", inside)]
    b = [record("p3", inside), record("p4", inside), record("p5", inside)]
    s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", t, "A"), Body=log_file(a))
    s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", t + datetime.timedelta(minutes=1), "B"),
                  Body=log_file(b))
    src = {"type": "s3", "bucket": "trail", "endpoint_url": aws, "since": "2h", "until": "2099-01-01T00:00:00Z",
           "once": True}
    # B's first two items were ACKed by an earlier run (its checkpoint says so): only p5 is left.
    key_b = f"s3://trail/{key_for(A1, 'us-east-1', t + datetime.timedelta(minutes=1), 'B')}"
    Checkpoints(tmp_path / "s.db").advance(key_b, 2)
    report = run_daemon(daemon_config(falco.sock, tmp_path / "s.db", [src]))
    assert falco.ids() == ["p1", "p2", "p3", "p5"]
    assert report.duplicates == 1 and report.records == 4
    assert Checkpoints(tmp_path / "s.db").position(key_b) == (3, True)


def test_backfill_lists_each_stream_once_across_days(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    """One listing per stream from `since` on covers every day prefix up to `until` (not one
    request per day); what a listing per day saw is still what is read or quarantined."""
    s3 = _s3(aws)
    s3.create_bucket(Bucket="trail")
    base = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    days = [base + datetime.timedelta(days=d) for d in (0, 3, 6, 9)]  # the last is after `until`
    for n, when in enumerate(days):
        s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", when, f"D{n}"),
                      Body=log_file([record(f"day{n}", when.strftime("%Y-%m-%dT%H:%M:%SZ"))]))
    stream = f"AWSLogs/o-abcdefghij/{A1}/CloudTrail/us-east-1/"
    # Under a day prefix (a listing per day saw it): quarantined. Elsewhere: never listed before.
    s3.put_object(Bucket="trail", Key=f"{stream}2024/05/03/sub/notes.txt", Body=b"x")
    for stray in ("2024/05/notaday/x.json.gz", "2024/13/45/x.json.gz", "README"):
        s3.put_object(Bucket="trail", Key=stream + stray, Body=b"x")
    requests: list[str] = []  # the Prefix of every ListObjectsV2 the source made
    q = tmp_path / "q"
    src = s3_source(aws, since="2024-05-01T00:00:00Z", until="2024-05-08T00:00:00Z")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(boto3.Session, "client", lambda self, *a, **k: counting_session_client(self, requests, *a, **k))
        report = run_daemon(daemon_config(falco.sock, tmp_path / "s.db", [src], quarantine=q))
    assert sorted(falco.ids()) == ["day0", "day1", "day2"]
    assert report.quarantined == 1
    reasons = [p.read_text() for p in q.glob("*.reason.json")]
    assert len(reasons) == 1 and "sub/notes.txt" in reasons[0]
    assert requests.count(stream) == 1  # one listing of the stream for the 8 days


_REAL_CLIENT = boto3.Session.client


def counting_session_client(session: Any, requests: list[str], *args: Any, **kwargs: Any) -> Any:
    c = _REAL_CLIENT(session, *args, **kwargs)
    if c.meta.service_model.service_name == "s3":
        c.meta.events.register("before-parameter-build.s3.ListObjectsV2",
                               lambda params, **_: requests.append(params.get("Prefix", "")))
    return c
