"""bridge/config.py: YAML + environment overlay, and typed sections with errors naming the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from bridge import config
from bridge.errors import ConfigError
from bridge.registry import Registry


@dataclass(frozen=True)
class Inner:
    bucket: str
    regions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    socket: str
    poll: float = 10.0
    mode: Literal["http", "grpc"] = "http"
    workers: int = 2
    verbose: bool = False
    inner: Inner | None = None


def test_env_overrides_every_key_with_yaml_scalars(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("falco:\n  socket: /a.sock\nsources:\n  - type: s3\n    bucket: b\n")
    env = {"CTBRIDGE__FALCO__SOCKET": "/b.sock", "CTBRIDGE__FALCO__POLL": "2.5",
           "CTBRIDGE__SOURCES__0__BUCKET": "c", "CTBRIDGE__SOURCES__1__TYPE": "sqs", "OTHER": "x"}
    data = config.load(f, env)
    assert data == {"falco": {"socket": "/b.sock", "poll": 2.5},
                    "sources": [{"type": "s3", "bucket": "c"}, {"type": "sqs"}]}
    assert config.env_name("sources[0].queue_url") == "CTBRIDGE__SOURCES__0__QUEUE_URL"


def test_env_index_past_the_end_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("sources: []\n")
    with pytest.raises(ConfigError, match="CTBRIDGE__SOURCES__3__TYPE.*past the end"):
        config.load(f, {"CTBRIDGE__SOURCES__3__TYPE": "s3"})


def test_from_dict_builds_typed_section() -> None:
    s = config.from_dict(Section, {"socket": "/s", "poll": 1, "mode": "grpc",
                                   "inner": {"bucket": "b", "regions": "us-east-1, eu-west-1"}}, "falco")
    assert s == Section(socket="/s", poll=1.0, mode="grpc", inner=Inner("b", ["us-east-1", "eu-west-1"]))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({}, ["falco.socket", "CTBRIDGE__FALCO__SOCKET", "required"]),
        ({"socket": "/s", "pol": 1}, ["falco", "unknown key 'pol'", "poll"]),
        ({"socket": 5}, ["falco.socket", "string", "5"]),
        ({"socket": "/s", "mode": "tcp"}, ["falco.mode", "'tcp'", "'http'"]),
        ({"socket": "/s", "workers": "two"}, ["falco.workers", "integer", "two"]),
        ({"socket": "/s", "verbose": "yes"}, ["falco.verbose", "true or false"]),
        ({"socket": "/s", "inner": {"regions": []}}, ["falco.inner.bucket", "required"]),
        ("nope", ["falco", "mapping"]),
    ],
)
def test_from_dict_errors_name_path_env_value_and_problem(data: object, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        config.from_dict(Section, data, "falco")
    for w in words:
        assert w in str(err.value)


def test_bad_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.yaml"):
        config.load(tmp_path / "missing.yaml", {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(bad, {})
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        config.load(top, {})


def test_registry_lists_valid_names_on_unknown() -> None:
    reg: Registry[type] = Registry("sink")
    reg.register("slack")(int)
    reg.register("webhook")(str)
    assert reg.get("slack") is int
    with pytest.raises(ConfigError, match=r"destinations\[0\]\.type: unknown sink type 'slak' \(valid: slack, webhook\)"):
        reg.get("slak", "destinations[0].type")
