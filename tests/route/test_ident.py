"""Alert ids: stable across deliveries of one alert, and across Falcos that evaluated one
CloudTrail record (bridge replicas sharing a queue), but never merging two hosts' syscall alerts."""

from __future__ import annotations

import dataclasses

import pytest
from sinks.alerts import cloud, host

from bridge.model import Alert
from bridge.route.ident import alert_id


def test_id_is_stable_and_ignores_what_the_intake_added() -> None:
    a = cloud(1)
    b = dataclasses.replace(a, extra={"intake": "grpc", "uuid": "x"})
    assert alert_id(a) == alert_id(b) and len(alert_id(a)) == 32
    assert alert_id(a) != alert_id(cloud(2))
    assert alert_id(a) != alert_id(dataclasses.replace(a, output_fields={**a.output_fields, "ct.user": "x"}))
    assert alert_id(a) != alert_id(dataclasses.replace(a, rule="Other"))
    assert alert_id(a) != alert_id(dataclasses.replace(a, time="2020-10-19T17:21:06.000000000Z"))


@pytest.mark.parametrize("source", ["aws_cloudtrail", "k8s_audit", "gcp_auditlog", "okta", "github"])
def test_one_remote_event_seen_by_two_falcos_has_one_id(source: str) -> None:
    # Two replicas, each beside its own Falco, evaluated the same record: only the hostname differs.
    a = dataclasses.replace(cloud(1), source=source, hostname="ctbridge-daemon-7d9f-a")
    b = dataclasses.replace(a, hostname="ctbridge-daemon-7d9f-b")
    assert alert_id(a) == alert_id(b)
    assert alert_id(a) != alert_id(dataclasses.replace(b, output_fields={**b.output_fields, "ct.id": "x"}))


@pytest.mark.parametrize("source", ["syscall", "internal", "", "some_plugin"])
def test_host_local_alerts_of_two_hosts_keep_two_ids(source: str) -> None:
    a = dataclasses.replace(host(1), source=source)
    assert alert_id(a) != alert_id(dataclasses.replace(a, hostname="node-2"))


def test_text_alerts_differ_by_their_line_and_host() -> None:
    a = Alert(time="2026-11-27T10:00:00Z", rule="", priority="Notice", source="", output="10:00:00: Notice x",
              hostname="node-1")
    assert alert_id(a) != alert_id(dataclasses.replace(a, output="10:00:00: Notice y"))
    assert alert_id(a) != alert_id(dataclasses.replace(a, hostname="node-2"))


def test_host_local_ids_are_unchanged_by_the_remote_rule() -> None:
    # A syscall alert's id is the one earlier versions gave it, so queues' dedup state and
    # PagerDuty/Security Hub keys made before the change still match after an upgrade.
    assert alert_id(host(3)) == "39311107cc35eb37795804bd0ea584cf"  # computed by the version before it
