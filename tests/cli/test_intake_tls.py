"""TLS options of the alert intake, as a user gives them to `ctbridge replay`.

The sidecar is tests/falco_standin.py (real plugin; Falco's engine and http_output stood in for,
here posting over HTTPS with a client cert as http_output's mtls does); real Falco:
tests/integration.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from falco_standin import replay_with_standin
from pki import client_context, make_pki

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "samples" / "seed"


def test_https_receiver_with_client_certificates(plugin_built: None, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    res, _ = replay_with_standin(
        SEED / "eventbridge.jsonl", tmp_path, "--tls-cert", str(pki / "server.pem"), "--tls-key",
        str(pki / "server.key"), "--tls-client-ca", str(pki / "ca.pem"), https=client_context(pki, with_cert=True))
    assert [json.loads(line)["rule"] for line in res.stdout.splitlines()] == ["S3 Bucket ACL Grants Public Access"]


@pytest.mark.parametrize(("args", "message"), [
    (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
    (["--grpc-ca", "ca.pem", "--grpc-cert", "c.pem"], "--grpc-ca, --grpc-cert and --grpc-key go together"),
    (["--intake", "grpc", "--grpc-target", "127.0.0.1:5060"], "on TCP requires mTLS"),
])
def test_incomplete_tls_settings_are_config_errors(tmp_path: Path, args: list[str], message: str) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "bridge", "replay", str(SEED), "--falco-socket", str(tmp_path / "s.sock"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
