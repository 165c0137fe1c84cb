"""`ctbridge replay --falco-socket` end to end, with the real plugin in the sidecar's place.

The plugin library is the real one (loaded through its C ABI, next_batch looped on a thread as
Falco does). What stands in for Falco is its rule engine and http_output: tests/rule_eval.py
evaluates the real rules/ on field values the plugin extracts, and each match is POSTed with
Falco's JSON body to the bridge's --listen address. Real Falco runs the same replay in
tests/integration/test_replay_falco.py (testcontainers or FALCO_BINARY).
"""

from __future__ import annotations

import datetime
import json
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from plugin_abi import PluginLib, default_library
from rule_eval import Evaluator, tokenize

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "samples" / "seed"
EXPECTED = yaml.safe_load((SEED / "expected_alerts.yaml").read_text(encoding="utf-8"))
SS_PLUGIN_EOF = 2
OUTPUT_FIELD = re.compile(r"%([\w.]+(?:\[[^\]]+\])?)")


def _rules() -> list[tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]]:
    out = []
    for path in sorted((REPO / "rules").glob("*.yaml")):
        items = yaml.safe_load(path.read_text(encoding="utf-8"))
        macros = {i["macro"]: i["condition"] for i in items if "macro" in i}
        lists = {i["list"]: [str(x) for x in i["items"]] for i in items if "list" in i}
        out += [(i, macros, lists) for i in items if "rule" in i and i.get("enabled", True)]
    return out


def _iso(ts: int) -> str:
    dt = datetime.datetime.fromtimestamp(ts // 1_000_000_000, tz=datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts % 1_000_000_000:09d}Z"


class StandInFalco(threading.Thread):
    """Plugin source + rules + http_output, the way a plugin-only Falco uses them."""

    def __init__(self, socket_path: Path, listen_url: str) -> None:
        super().__init__(daemon=True)
        self.state = PluginLib(default_library()).init("")
        self.instance = self.state.open(f"unix://{socket_path}")
        self.url = listen_url
        self.rules = _rules()
        self.events: list[bytes] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _loop(self) -> None:
        evtnum = 0
        while True:
            rc, events = self.instance.next_batch()
            for ev in events:
                evtnum += 1
                self.events.append(ev.payload)
                for rule, macros, lists in self.rules:
                    self._evaluate(rule, macros, lists, ev.payload, ev.ts, evtnum)
            if rc == SS_PLUGIN_EOF:
                return

    def _evaluate(self, rule: dict[str, Any], macros: dict[str, str], lists: dict[str, list[str]],
                  payload: bytes, ts: int, evtnum: int) -> None:
        conds = [rule["condition"], *macros.values()]
        names = sorted({v for c in conds for k, v in tokenize(c) if k == "field"}
                       | set(OUTPUT_FIELD.findall(rule["output"])))
        values = dict(zip(names, self.state.extract(payload, names, evtnum=evtnum), strict=True))
        if not Evaluator(macros, lists, values).run(rule["condition"]):
            return
        text = OUTPUT_FIELD.sub(lambda m: "<NA>" if values[m.group(1)] is None else str(values[m.group(1)]),
                                " ".join(rule["output"].split()))
        fields = {n: values[n] for n in OUTPUT_FIELD.findall(rule["output"])} | {"evt.time": ts}
        body = {"hostname": "stand-in", "output": f"{_iso(ts)[11:29]}: {rule['priority'].title()} {text}",
                "output_fields": fields, "priority": rule["priority"].title(), "rule": rule["rule"],
                "source": "aws_cloudtrail", "tags": sorted(set(rule.get("tags", []))), "time": _iso(ts)}
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "falcosecurity/falco"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200

    def close(self) -> None:
        self.instance.close()
        self.state.destroy()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _replay(inputs: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], StandInFalco]:
    """Run `ctbridge replay --falco-socket` against a stand-in Falco until the stream ends."""
    sock = tmp_path / "ingest.sock"
    port = _free_port()
    falco = StandInFalco(sock, f"http://127.0.0.1:{port}/")
    falco.start()
    try:
        res = subprocess.run(
            [sys.executable, "-m", "bridge", "replay", str(inputs), "--falco-socket", str(sock),
             "--listen", f"127.0.0.1:{port}", "--end-stream", "--quiet", "0.5", *extra],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )
        falco.join(timeout=30)
    finally:
        falco.close()
    assert falco.error is None, falco.error
    assert res.returncode == 0, res.stderr
    assert not falco.is_alive(), "END from the bridge must end the plugin's stream (EOF)"
    return res, falco


@pytest.fixture
def plugin_built() -> None:
    if not Path(default_library()).is_file():
        pytest.skip(f"plugin library {default_library()} is not built (run `make plugin`)")


def test_replay_through_sidecar_prints_exactly_the_expected_alerts(plugin_built: None, tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    quarantine = tmp_path / "quarantine"
    res, falco = _replay(SEED, tmp_path, "--out", str(out), "--quarantine", str(quarantine))

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
    res, _ = _replay(inputs, tmp_path, "--quarantine", str(quarantine))
    alerts = [json.loads(line) for line in res.stdout.splitlines()]
    assert [a["rule"] for a in alerts] == ["S3 Bucket ACL Grants Public Access"]
    for name in ("a_corrupt.json.gz", "b_truncated.json", "c_events.jsonl"):
        assert name in res.stderr, f"the log must name {name}"
    reasons = [json.loads(p.read_text()) for p in quarantine.glob("*.reason.json")]
    assert len(reasons) == 4, reasons  # corrupt gzip, truncated JSON, no eventTime, non-UTF-8 line
