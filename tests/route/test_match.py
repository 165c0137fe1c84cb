"""Route matching and templates with escaping (alert ids: test_ident.py)."""

from __future__ import annotations

import dataclasses

import pytest
from sinks.alerts import HOSTILE, cloud, host

from bridge.config import from_dict
from bridge.errors import ConfigError
from bridge.route.escape import ESCAPERS
from bridge.route.match import RouteConfig, Router
from bridge.route.template import Template


def routes(*rs: dict[str, object]) -> Router:
    return Router([from_dict(RouteConfig, r, f"routes[{i}]") for i, r in enumerate(rs)])


def test_route_conditions() -> None:
    r = routes(
        {"name": "crit", "min_priority": "critical", "to": ["pd"]},
        {"rules": ["Delete Bucket*"], "to": ["slack"]},
        {"rules": ["re:^Terminal .* container$"], "tags": ["mitre_execution", "nope"], "to": ["teams"]},
        {"sources": ["syscall"], "fields": {"container.name": "web-*"}, "to": ["file"]},
        {"fields": {"ct.region": "re:eu-.*"}, "to": ["eu"]},
        {"default": True, "to": ["fallback"]},
    )
    assert r.destinations(cloud()) == ["pd", "slack"]
    assert r.destinations(host()) == ["teams", "file"]
    assert r.destinations(dataclasses.replace(cloud(), priority="Warning", rule="Other")) == ["fallback"]
    assert r.destinations(dataclasses.replace(host(), output_fields={})) == ["teams"]


def test_min_priority_is_inclusive_and_unknown_priorities_do_not_pass() -> None:
    r = routes({"min_priority": "Warning", "to": ["x"]})
    assert r.destinations(dataclasses.replace(cloud(), priority="Warning")) == ["x"]
    assert r.destinations(dataclasses.replace(cloud(), priority="Notice")) == []
    assert r.destinations(dataclasses.replace(cloud(), priority="")) == []


@pytest.mark.parametrize("bad", [{"to": []}, {"to": ["x"], "min_priority": "loud"},
                                 {"to": ["x"], "rules": ["re:("]}, {"to": ["x"], "colour": "red"}])
def test_bad_routes_are_config_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        from_dict(RouteConfig, bad, "routes[0]")


def test_template_substitutes_fields_and_escapes_only_values() -> None:
    t = Template("*{rule}* by {ct.user} ({priority}) {missing}|{attr.__class__}", "slack")
    out = t.render(cloud())
    assert out == "*Delete Bucket Encryption* by TeamRole (Critical) |"
    hostile = Template("{ct.user}", "slack").render(cloud(output_fields={"ct.user": HOSTILE}))
    assert "<" not in hostile and ">" not in hostile and "&lt;!channel&gt;" in hostile
    assert "<b>" not in Template("{ct.user}", "html").render(cloud(output_fields={"ct.user": HOSTILE}))
    assert Template('{"u": "{ct.user}"}', "json").render(cloud(output_fields={"ct.user": 'a"b\\'})) == '{"u": "a\\"b\\\\"}'


def test_no_format_string_tricks() -> None:
    assert Template("{0} {rule!r} {rule.__class__}", "none").render(cloud()) == " {rule!r} "  # unknown names are empty, nothing is evaluated


@pytest.mark.parametrize("name", ["slack", "html", "markdown"])
def test_escapers_neutralise_links_mentions_and_tags(name: str) -> None:
    out = ESCAPERS[name](HOSTILE)
    assert "<!channel>" not in out and "<https://" not in out and "<b>" not in out
    if name == "markdown":
        assert "[a](http" not in out and "\\*bold\\*" in out
