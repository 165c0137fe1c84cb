"""A stand-in for a plugin-only Falco: the real ctbridge plugin as its source, with Falco's rule
engine and http_output stood in for.

The plugin library is the real one (loaded through its C ABI, next_batch looped on a thread as
Falco does). tests/rule_eval.py evaluates the real rules/ on field values the plugin extracts, and
each match is POSTed with Falco's JSON body to the bridge's --listen address. Real Falco runs the
same flows in tests/integration/test_replay_falco.py (testcontainers or FALCO_BINARY).
"""

from __future__ import annotations

import datetime
import json
import re
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

from plugin_abi import PluginLib, default_library
from rule_eval import Evaluator, load_rules, tokenize

REPO = Path(__file__).resolve().parents[1]
SS_PLUGIN_EOF = 2
OUTPUT_FIELD = re.compile(r"%([\w.]+(?:\[[^\]]+\])?)")


def _rules() -> list[tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]]:
    # Macros and lists are shared across the files, as Falco loads them.
    rules, macros, lists = load_rules(sorted((REPO / "rules").glob("*.yaml")))
    return [(r, macros, lists) for r in rules]


def _iso(ts: int) -> str:
    dt = datetime.datetime.fromtimestamp(ts // 1_000_000_000, tz=datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts % 1_000_000_000:09d}Z"


class StandInFalco(threading.Thread):
    """Plugin source + rules + http_output, the way a plugin-only Falco uses them."""

    def __init__(self, socket_path: Path, listen_url: str, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(daemon=True)
        self.ssl_context = ssl_context  # like http_output's ca_cert / mtls client cert
        self.state = PluginLib(default_library()).init("")
        self.instance = self.state.open(f"unix://{socket_path}")
        self.url = listen_url
        self.rules = _rules()
        self.events: list[bytes] = []
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _loop(self) -> None:
        evtnum = 0
        while not self._halt.is_set():
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
        with urllib.request.urlopen(req, timeout=10, context=self.ssl_context) as resp:
            assert resp.status == 200

    def close(self) -> None:
        # Like Falco: the plugin is closed only once nothing calls next_batch any more.
        self._halt.set()
        self.join(timeout=30)
        assert not self.is_alive(), "the stand-in's next_batch loop did not stop"
        self.instance.close()
        self.state.destroy()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def replay_with_standin(inputs: Path, tmp_path: Path, *extra: str, https: ssl.SSLContext | None = None,
                        ) -> tuple[subprocess.CompletedProcess[str], StandInFalco]:
    """Run `ctbridge replay --falco-socket ... --end-stream` against a stand-in Falco until the
    stream ends (https: post alerts over HTTPS with this client context)."""
    sock = tmp_path / "ingest.sock"
    port = free_port()
    falco = StandInFalco(sock, f"{'https' if https else 'http'}://127.0.0.1:{port}/", https)
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
