"""The plugin's field table, read from the built library (plugin_get_fields) without Falco."""

from __future__ import annotations

import ctypes
import json
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError

# Falco's own fields that are valid on plugin events (libsinsp's generic event fields).
FALCO_FIELDS = {
    "evt.num", "evt.time", "evt.time.s", "evt.time.iso8601", "evt.datetime", "evt.datetime.s",
    "evt.rawtime", "evt.rawtime.s", "evt.rawtime.ns", "evt.reltime", "evt.reltime.s", "evt.reltime.ns",
    "evt.source", "evt.pluginname", "evt.plugininfo", "evt.is_async", "evt.asynctype", "evt.hostname",
}


def plugin_fields(plugin: str | Path) -> dict[str, dict[str, Any]]:
    path = Path(plugin)
    if not path.is_file():
        raise ConfigError(f"plugin library {path} not found (build it with `make plugin`)")
    lib = ctypes.CDLL(str(path.resolve()))
    fn = lib.plugin_get_fields
    fn.restype = ctypes.c_char_p
    raw = fn()
    return {f["name"]: f for f in json.loads(raw.decode())}
