"""`ctbridge replay --falco-socket` end to end, with the real plugin in the sidecar's place.

Falco's rule engine and http_output are stood in for by tests/falco_standin.py (real plugin,
real rules, real HTTP); real Falco runs the same replay in tests/integration/test_replay_falco.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from falco_standin import replay_with_standin

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "samples" / "seed"
EXPECTED = yaml.safe_load((SEED / "expected_alerts.yaml").read_text(encoding="utf-8"))


def test_replay_through_sidecar_prints_exactly_the_expected_alerts(plugin_built: None, tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    quarantine = tmp_path / "quarantine"
    res, falco = replay_with_standin(SEED, tmp_path, "--out", str(out), "--quarantine", str(quarantine))

    # Every seed record reached the plugin exactly once, in file order (the .json.gz, then the JSONL).
    ids = [json.loads(p)["eventID"] for p in falco.events]
    assert len(ids) == len(set(ids)) == 13

    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    got = sorted((a["rule"], a["output_fields"]["ct.id"]) for a in alerts)
    assert got == sorted((a["rule"], a["event_id"]) for a in EXPECTED["alerts"])
    by_key = {(a["rule"], a["output_fields"]["ct.id"]): a for a in alerts}
    for want in EXPECTED["alerts"]:
        alert = by_key[(want["rule"], want["event_id"])]
        assert alert["priority"] == want["priority"]
        assert alert["source"] == "aws_cloudtrail"
        assert alert["time"] == want["time"]
        assert alert["tags"] == want["tags"]
        assert alert["intake"] == "http"
        for key, value in want["output_fields"].items():
            assert str(alert["output_fields"][key]) == str(value), (want["rule"], key)
    assert set(alerts[0]) >= {"hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"}
    assert "replayed 13 records" in res.stderr
    assert not quarantine.exists() or not any(quarantine.iterdir())


def test_bad_items_are_quarantined_and_the_rest_still_alerts(plugin_built: None, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a_corrupt.json.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (inputs / "b_truncated.json").write_bytes(b'{"Records":[{"eventTime":"2020-10-19T17:24:16Z"')
    seed_jsonl = (SEED / "eventbridge.jsonl").read_bytes()
    (inputs / "c_events.jsonl").write_bytes(b'{"no":"time"}\n\xff\xfe not utf-8\n' + seed_jsonl)
    quarantine = tmp_path / "q"
    res, _ = replay_with_standin(inputs, tmp_path, "--quarantine", str(quarantine))
    alerts = [json.loads(line) for line in res.stdout.splitlines()]
    assert [a["rule"] for a in alerts] == ["S3 Bucket ACL Grants Public Access"]
    for name in ("a_corrupt.json.gz", "b_truncated.json", "c_events.jsonl"):
        assert name in res.stderr, f"the log must name {name}"
    reasons = [json.loads(p.read_text()) for p in quarantine.glob("*.reason.json")]
    assert len(reasons) == 4, reasons  # corrupt gzip, truncated JSON, no eventTime, non-UTF-8 line
