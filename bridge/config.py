"""One YAML config file for the daemon, with an environment override for every key.

Override rule: ``CTBRIDGE__`` + the key's path in upper case, segments joined by ``__``, list
items by index. ``CTBRIDGE__FALCO__SOCKET=/run/x.sock`` sets ``falco.socket``;
``CTBRIDGE__SOURCES__0__QUEUE_URL=...`` sets ``sources[0].queue_url``. The value is read as a
YAML scalar (``true``, ``10``, ``"10"``), so types follow the same rules as in the file. A key
that does not exist yet is created (lists grow by one at their end).

Each component describes its own section as a frozen dataclass; ``from_dict`` checks it: unknown
keys, wrong types and missing required keys are ConfigErrors naming the YAML path, the
environment variable that would set it, the value and the problem.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from bridge.errors import ConfigError

ENV_PREFIX = "CTBRIDGE__"
T = TypeVar("T")


def env_name(path: str) -> str:
    """'sources[0].queue_url' -> 'CTBRIDGE__SOURCES__0__QUEUE_URL'."""
    parts = path.replace("[", ".").replace("]", "").split(".")
    return ENV_PREFIX + "__".join(p.upper() for p in parts if p)


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The file's mapping with the environment overrides applied."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"config file {p}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {p}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {p}: not valid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: the top level must be a mapping, got {type(data).__name__}")
    return apply_env(data, os.environ if environ is None else environ)


def apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__") if p]
        if not parts:
            continue
        try:
            value = yaml.safe_load(environ[name])
        except yaml.YAMLError:
            value = environ[name]
        _set(data, parts, value, name)
    return data


def _set(node: Any, parts: list[str], value: Any, env: str) -> None:
    key, rest = parts[0], parts[1:]
    if isinstance(node, list):
        if not key.isdigit():
            raise ConfigError(f"{env}: {key!r} is not a list index")
        i = int(key)
        if i > len(node):
            raise ConfigError(f"{env}: index {i} is past the end of a list of {len(node)}")
        if i == len(node):
            node.append({} if rest else None)
        if rest:
            if not isinstance(node[i], (dict, list)):
                node[i] = {}
            _set(node[i], rest, value, env)
        else:
            node[i] = value
        return
    if not isinstance(node, dict):
        raise ConfigError(f"{env}: cannot set {key!r} inside a {type(node).__name__}")
    if rest:
        child = node.get(key)
        if not isinstance(child, (dict, list)):
            child = [] if rest[0].isdigit() else {}
            node[key] = child
        _set(child, rest, value, env)
    else:
        node[key] = value


def _where(path: str) -> str:
    return f"{path} (env {env_name(path)})"


def _check(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check(arg, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{_where(path)}: bad value {value!r}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{_where(path)}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        if isinstance(value, str) and item is str:
            value = [v.strip() for v in value.split(",") if v.strip()]  # env: "a,b"
        if not isinstance(value, list):
            raise ConfigError(f"{_where(path)}: must be a list, got {type(value).__name__} {value!r}")
        out = [_check(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        kt, vt = typing.get_args(tp) or (Any, Any)
        if not isinstance(value, dict):
            raise ConfigError(f"{_where(path)}: must be a mapping, got {type(value).__name__}")
        return {_check(kt, k, path): _check(vt, v, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{_where(path)}: must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{_where(path)}: must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{_where(path)}: must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{_where(path)}: must be a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Any, path: str) -> T:
    """Build the frozen dataclass `cls` from a mapping, checking every key against its fields."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{_where(path)}: must be a mapping, got {type(data).__name__} {data!r}")
    assert dataclasses.is_dataclass(cls)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields), key=repr)  # YAML keys may be null, numbers, lists...
    if unknown:
        where = _where(path) if path else "top level"
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (valid: {', '.join(sorted(fields))})")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _check(hints[name], data[name], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{_where(sub)}: required")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(path)
    return obj
