"""Message templates: `{field}` substitution only, each value escaped for the destination.

No str.format, no attribute or index access, no expressions: a template can name a top-level
alert key (rule, priority, output, source, hostname, time, tags, id) or an output field
(`{ct.user}`, `{output_fields[ct.user]}` is not supported on purpose). Unknown names stay empty.
"""

from __future__ import annotations

import re
from typing import Any

from bridge.errors import ConfigError
from bridge.model import Alert
from bridge.route.escape import ESCAPERS, Escaper
from bridge.route.ident import alert_id

_FIELD = re.compile(r"\{([A-Za-z0-9_.:\-\[\]/]+)\}")
_TOP = ("rule", "priority", "output", "source", "hostname", "time")


def field_value(alert: Alert, name: str) -> Any:
    """The value a template or a route names: top-level key, `id`, `tags`, or an output field."""
    if name in _TOP:
        return getattr(alert, name)
    if name == "id":
        return alert_id(alert)
    if name == "tags":
        return ",".join(alert.tags)
    if name in alert.output_fields:
        return alert.output_fields[name]
    return alert.extra.get(name)


class Template:
    def __init__(self, text: str, escape: str = "none") -> None:
        if escape not in ESCAPERS:
            raise ConfigError(f"template escape {escape!r}: one of {', '.join(ESCAPERS)}")
        self.text = text
        self._escape: Escaper = ESCAPERS[escape]

    def render(self, alert: Alert) -> str:
        def one(m: re.Match[str]) -> str:
            value = field_value(alert, m.group(1))
            return self._escape("" if value is None else str(value))

        # Literal parts of the template are the operator's own markup and are kept as written.
        return _FIELD.sub(one, self.text)
