"""The enrichment fields (ctb.principal, ctb.count, ctb.first, ctb.seq) read the reserved top-level
"ctb" key that the bridge's enrich stage writes (docs/enrichment.md)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from plugin_abi import PluginError, PluginState

_evtnums = itertools.count(1)


def values(state: PluginState, record: dict[str, Any], *fields: str) -> list[Any]:
    return state.extract(json.dumps(record).encode(), list(fields), evtnum=next(_evtnums))


def test_enriched_record_exposes_counters_first_seen_and_sequences(
    state: PluginState, record_factory: Any
) -> None:
    rec = record_factory(eventName="GetSecretValue", eventSource="secretsmanager.amazonaws.com")
    rec["ctb"] = {
        "principal": "arn:aws:iam::123456789012:user/dev",
        "count": {"secret_reads": 27},
        "first": {"principal_region": True, "principal_api": False},
        "seq": {"ec2_userdata_swap": 2},
    }
    got = values(
        state, rec, "ctb.principal", "ctb.count[secret_reads]", "ctb.first[principal_region]",
        "ctb.first[principal_api]", "ctb.seq[ec2_userdata_swap]", "ctb.count[other]", "ctb.seq[other]",
        "ctb.first[other]", "ct.name",
    )
    assert got == [
        "arn:aws:iam::123456789012:user/dev", 27, "true", "false", 2, None, None, None, "GetSecretValue",
    ]


def test_plain_record_has_no_enrichment_values(state: PluginState, record_factory: Any) -> None:
    got = values(state, record_factory(), "ctb.principal", "ctb.count[secret_reads]", "ctb.first[x]", "ctb.seq[y]")
    assert got == [None, None, None, None]


def test_non_numeric_counter_is_absent(state: PluginState, record_factory: Any) -> None:
    rec = record_factory()
    rec["ctb"] = {"count": {"n": "12"}, "seq": {"s": None}}
    assert values(state, rec, "ctb.count[n]", "ctb.seq[s]") == [None, None]


def test_enrichment_field_without_name_is_an_error(state: PluginState, record_factory: Any) -> None:
    with pytest.raises(PluginError):
        values(state, record_factory(), "ctb.count")
