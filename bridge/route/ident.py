"""A stable id per alert: the same alert from a retrying Falco, a second intake or a second Falco
that evaluated the same CloudTrail record gets the same id."""

from __future__ import annotations

import hashlib

import orjson

from bridge.model import Alert

# Plugin sources whose events come from a service outside the host (a trail, an audit log, an
# API), so several Falcos may evaluate one event (bridge replicas sharing an SQS queue): their
# alerts differ only in hostname and must share one id. Every other source (syscall, internal
# notices, unknown plugins) keeps the hostname: there the same rule, time and fields on two hosts
# are two events, and dropping it would merge them.
REMOTE_SOURCES = frozenset({"aws_cloudtrail", "k8s_audit", "gcp_auditlog", "okta", "github"})


def alert_id(alert: Alert) -> str:
    """sha256 over rule, time, source, hostname and output fields (sorted keys), 32 hex chars;
    without the hostname for REMOTE_SOURCES.

    Not the output text: it repeats those fields, and `extra` (intake, sidekick's uuid) differs
    between two deliveries of one alert.
    """
    host = "" if alert.source in REMOTE_SOURCES else alert.hostname
    key = orjson.dumps(
        [alert.rule, alert.time, alert.source, host, alert.output_fields],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    if not alert.rule and not alert.output_fields:
        key += alert.output.encode("utf-8", "replace")  # text alerts carry only their line
    return hashlib.sha256(key).hexdigest()[:32]
