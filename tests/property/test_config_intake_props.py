"""Property tests: config loading (bridge/config.py, the daemon's DaemonConfig) and the HTTP alert
intake (bridge/intake/http.py): whatever arrives, the only failures are the project's own
ConfigError / InputError (a clear message), and the intake answers 2xx/4xx, never 5xx."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.config import apply_env, from_dict
from bridge.daemon import load_config
from bridge.errors import ConfigError, InputError
from bridge.intake.http import HttpIntake, alert_from_falco_json, alert_from_text
from bridge.model import Alert
from bridge.sources._config import DaemonConfig

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12) | st.floats(allow_nan=False)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)
KEYS = ["falco", "socket", "sources", "type", "s3", "sqs", "bucket", "queue_url", "state", "path", "dedup",
        "window_seconds", "max_entries", "readers", "ops", "listen", "exit_when_idle", "log", "level", "0", "1"]
# Mappings shaped like the daemon's config, with the real keys, so validation is reached deeply.
configs = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4), max_leaves=14)


@given(configs)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_daemon_config_fails_only_with_config_error(data: Any) -> None:
    try:
        from_dict(DaemonConfig, data, "")
    except ConfigError as e:
        assert str(e)


@given(st.dictionaries(st.sampled_from(KEYS), configs, max_size=4),
       st.dictionaries(st.lists(st.sampled_from(KEYS + ["", "x"]), min_size=1, max_size=4)
                       .map(lambda parts: "CTBRIDGE__" + "__".join(p.upper() for p in parts)),
                       st.text(max_size=10), max_size=3))
def test_environment_overrides_fail_only_with_config_error(data: dict[str, Any], env: dict[str, str]) -> None:
    try:
        from_dict(DaemonConfig, apply_env(data, env), "")
    except ConfigError as e:
        assert str(e)


@given(st.text(max_size=200))
@settings(max_examples=60, deadline=None)
def test_any_config_file_text_fails_only_with_config_error(tmp_path_factory: Any, text: str) -> None:
    path = Path(tmp_path_factory.mktemp("cfg")) / "c.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        load_config(str(path), {})
    except ConfigError as e:
        assert str(e)


@given(values)
def test_alert_json_fails_only_with_input_error(value: Any) -> None:
    try:
        alert_from_falco_json(value, "http")
    except InputError:
        pass


@given(st.text(max_size=200))
def test_alert_text_fails_only_with_input_error(text: str) -> None:
    try:
        alert_from_text(text, "http")
    except InputError:
        pass


falco_alerts = st.fixed_dictionaries({
    "output": st.text(max_size=40), "priority": st.sampled_from(["Critical", "Warning", "Notice", "bogus"]),
    "rule": st.text(max_size=20), "time": st.just("2024-01-01T00:00:00.000000000Z"),
    "output_fields": st.dictionaries(st.text(max_size=8), scalars, max_size=3),
    "source": st.just("aws_cloudtrail"), "tags": st.lists(st.text(max_size=5), max_size=3),
    "hostname": st.text(max_size=10),
})
bodies = (st.binary(max_size=300) | values.map(lambda v: yaml.safe_dump(v).encode())
          | falco_alerts.map(lambda a: __import__("json").dumps(a).encode()))


@given(st.lists(st.tuples(bodies, st.sampled_from(["application/json", "text/plain", ""])), min_size=1,
                max_size=6))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_intake_answers_every_body_without_a_server_error(posts: list[tuple[bytes, str]]) -> None:
    got: list[Alert] = []
    intake = HttpIntake(got.append, max_body=256)
    intake.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", intake.port, timeout=10)
        statuses = []
        for body, ctype in posts:
            headers = {"Content-Type": ctype} if ctype else {}
            try:
                conn.request("POST", "/", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()  # the server closed a connection it will not reuse (a body over the limit)
                conn = http.client.HTTPConnection("127.0.0.1", intake.port, timeout=10)
                conn.request("POST", "/", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
            statuses.append(resp.status)
            assert resp.status in (200, 400), (resp.status, body[:80])
            assert resp.status == 400 or len(body) <= 256  # over the limit: never accepted
        conn.close()
    finally:
        intake.stop()
    assert len(got) == statuses.count(200) == intake.received
