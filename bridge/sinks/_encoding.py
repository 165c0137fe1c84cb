"""Alert encodings a destination can choose with `encoding:`: Falco's own JSON (plus our `id`)
or an OCSF Detection Finding (OCSF consumers; Security Lake through a Parquet-converting Firehose)."""

from __future__ import annotations

from typing import Any

import orjson

from bridge.errors import ConfigError
from bridge.model import Alert
from bridge.route.ident import alert_id
from bridge.sinks._ocsf import detection_finding

ENCODINGS = ("falco", "ocsf")


def iso_ms(falco_time: str) -> str | None:
    """Falco's '2020-10-19T17:21:05.123456789Z' as '2020-10-19T17:21:05.123Z' (APIs that parse
    RFC 3339 with at most milliseconds); None when it is not an ISO time (text alerts)."""
    import datetime as dt

    base, dot, frac = falco_time.rstrip("Z").partition(".")
    try:
        dt.datetime.fromisoformat(base)
    except ValueError:
        return None
    return f"{base}.{(frac + '000')[:3]}Z" if dot else f"{base}.000Z"


def check_encoding(value: str, where: str) -> None:
    if value not in ENCODINGS:
        raise ConfigError(f"{where}.encoding: {value!r} is not one of {', '.join(ENCODINGS)}")


def falco_dict(alert: Alert) -> dict[str, Any]:
    d = alert.to_dict()
    d["id"] = alert_id(alert)
    return d


def encode_dict(alert: Alert, encoding: str) -> dict[str, Any]:
    return detection_finding(alert) if encoding == "ocsf" else falco_dict(alert)


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS, default=str)


def encode(alert: Alert, encoding: str) -> bytes:
    return dumps(encode_dict(alert, encoding))
