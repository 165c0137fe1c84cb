"""Walk the destination registry: every sink has a typed config, a builder, escaping where its
messages are markup, an example that parses, and an up-to-date doc page."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from bridge.registry import load_package
from bridge.route.escape import ESCAPERS
from bridge.route.forwarder import parse_destination
from bridge.sinks import _docs
from bridge.sinks._base import SINKS, Sink

load_package("bridge.sinks")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "sinks"
TESTS = Path(__file__).resolve().parents[1] / "sinks"
NAMES = SINKS.names()
# Destinations whose messages are rendered as markup by the receiving app.
MARKUP = {"slack": "slack", "teams": "markdown", "smtp": "html"}


def test_every_module_registered_one_sink_named_after_it() -> None:
    modules = {p.stem for p in (Path(__file__).resolve().parents[2] / "bridge" / "sinks").glob("*.py")
               if not p.stem.startswith("_")} - {"jsonlines"}  # jsonlines: the replay/run printer, not a destination
    assert modules == set(NAMES)
    assert len(NAMES) >= 19


@pytest.mark.parametrize("name", NAMES)
def test_shape(name: str) -> None:
    cls = SINKS.get(name)
    assert issubclass(cls, Sink) and dataclasses.is_dataclass(cls.Config) and cls.Config.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert cls.build is not Sink.build and cls.send is not Sink.send
    assert cls.markup in ESCAPERS and cls.summary and cls.max_batch >= 1
    assert MARKUP.get(name, cls.markup) == cls.markup
    assert inspect.getmodule(cls).__name__ == f"bridge.sinks.{name}"  # type: ignore[union-attr]
    assert (TESTS / f"test_{name}.py").exists() or any(name in p.stem for p in TESTS.glob("test_*.py"))


@pytest.mark.parametrize("name", NAMES)
def test_example_parses(name: str) -> None:
    example = yaml.safe_load(SINKS.get(name).example)
    (entry,) = [d for d in example["destinations"] if d["type"] == name]
    common, cfg = parse_destination(entry, "destinations[0]")
    assert common.type == name and dataclasses.is_dataclass(cfg)


@pytest.mark.parametrize("name", NAMES)
def test_doc_page_is_current(name: str) -> None:
    page = DOCS / f"{name}.md"
    assert page.exists(), f"run: python -m bridge.sinks._docs docs/sinks"
    assert page.read_text(encoding="utf-8") == _docs.render(name, SINKS.get(name)), (
        "docs out of date; run: python -m bridge.sinks._docs docs/sinks")


@pytest.mark.parametrize("name", sorted(MARKUP))
def test_markup_sinks_escape_hostile_text(name: str) -> None:
    from sinks.alerts import hostile

    entry = yaml.safe_load(SINKS.get(name).example)["destinations"][0]
    entry = {k: (v if not str(v).startswith("env:") else "https://hooks.example/x") for k, v in entry.items()}
    entry.pop("password", None)
    sink = SINKS.get(name)(*(lambda c: (c[0].name, c[1], c[0]))(parse_destination(entry, "d")))
    built = sink.build([hostile()])
    # email: the HTML part is the markup (the plain-text part and the subject show text as is)
    text = built.get_body(("html",)).get_content() if name == "smtp" else str(built)
    for bad in ("<!channel>", "<https://evil.example|click>", "<b>x</b>"):
        assert bad not in text


@pytest.mark.parametrize("name", NAMES)
def test_batch_limits_match_what_the_builder_takes(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sink that builds one message per alert must refuse batches in config (batch_limit 1);
    every other builder must take a batch."""
    from sinks.alerts import cloud, host

    cls = SINKS.get(name)
    assert 1 <= cls.max_batch <= cls.batch_limit
    if cls.batch_limit == 1:
        return
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # building a boto3 client needs a region, not AWS
    entry = yaml.safe_load(cls.example)["destinations"][0]
    entry = {k: (v if not str(v).startswith(("env:", "file:")) else "https://hooks.example/x") for k, v in entry.items()}
    sink = cls(*(lambda c: (c[0].name, c[1], c[0]))(parse_destination(entry, "d")))
    assert sink.build([cloud(1), host(2)])
