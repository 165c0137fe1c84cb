"""Sample alerts for the forwarding tests: the seed's CloudTrail alert, a syscall one, a hostile one."""

from __future__ import annotations

from bridge.model import Alert
from bridge.sinks._base import Sink


def cloud(n: int = 0, **kw: object) -> Alert:
    fields = {"ct.id": f"e9a8b7c6-{n:04d}", "ct.region": "us-east-1", "ct.srcip": "203.0.113.45",
              "ct.user": "TeamRole", "ct.user.accountid": "161134881107",
              "ct.user.arn": "arn:aws:sts::161134881107:assumed-role/TeamRole/MasterKey",
              "evt.time": 1603128065000000000 + n, "s3.bucket": "jd-1603127991"}
    base: dict[str, object] = dict(
        time=f"2020-10-19T17:21:05.{n:09d}Z", rule="Delete Bucket Encryption", priority="Critical",
        source="aws_cloudtrail",
        output=f"17:21:05.000000000: Critical An encryption configuration for a bucket has been deleted "
               f"(requesting user=arn:aws:sts::161134881107:assumed-role/TeamRole/MasterKey bucket=jd-1603127991 n={n})",
        hostname="ip-10-0-1-7", tags=("NIST800_53", "aws", "cloud"), output_fields=fields)
    base.update(kw)
    return Alert(**base)  # type: ignore[arg-type]


def host(n: int = 0) -> Alert:
    return Alert(time=f"2026-11-27T10:00:00.{n:09d}Z", rule="Terminal shell in container", priority="Notice",
                 source="syscall", output=f"10:00:00: Notice A shell was spawned (user=root container=web-{n})",
                 hostname="node-1", tags=("container", "shell", "mitre_execution"),
                 output_fields={"container.name": f"web-{n}", "user.name": "root", "evt.time": 1764237600000000000 + n})


HOSTILE = "<!channel> <https://evil.example|click> *bold* _it_ `code` <b>x</b> [a](http://e) & \"q\""


def hostile() -> Alert:
    return cloud(0, rule=f"Rule {HOSTILE}", output=f"out {HOSTILE}",
                 output_fields={"ct.user": HOSTILE, "s3.bucket": HOSTILE, "ct.region": "us-east-1"})


def make_sink(entry: dict[str, object]) -> Sink:
    """A sink built from one `destinations:` entry, the way the forwarder builds it."""
    from bridge.route.forwarder import parse_destination
    from bridge.sinks._base import SINKS

    common, cfg = parse_destination(entry, "destinations[0]")
    return SINKS.get(common.type)(common.name, cfg, common)
