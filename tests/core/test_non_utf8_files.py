"""Files a user points the bridge at that are not UTF-8 (found by fuzzing the config loader:
a UnicodeDecodeError traceback instead of a ConfigError): a clear error naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load
from bridge.enrich.config import load_config as load_enrich
from bridge.errors import ConfigError
from bridge.rulestool.ruleset import RuleSet
from bridge.sinks._base import secret

LATIN1 = "sources: []\n# caf\xe9\n".encode("latin-1")


def test_daemon_config(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_bytes(LATIN1)
    with pytest.raises(ConfigError, match=r"c\.yaml: not UTF-8 text \(byte 17"):
        load(p, {})


def test_enrichment_config(tmp_path: Path) -> None:
    p = tmp_path / "enrich.yaml"
    p.write_bytes(LATIN1)
    with pytest.raises(ConfigError, match=r"enrichment config .*enrich\.yaml: not UTF-8 text"):
        load_enrich(p)


def test_rules_file(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_bytes(b"- rule: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"r\.yaml: not UTF-8 text"):
        RuleSet.load([p])


def test_secret_file_names_the_file_never_the_bytes(tmp_path: Path) -> None:
    p = tmp_path / "token"
    p.write_bytes(b"s3cr\xe9t")
    with pytest.raises(ConfigError) as e:
        secret(f"file:{p}", "destination x.api_key")
    assert "destination x.api_key" in str(e.value) and "token" in str(e.value)
    assert "s3cr" not in str(e.value)
