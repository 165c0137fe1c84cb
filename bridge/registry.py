"""Components register themselves by type name; config names them by that name.

    SOURCES: Registry[type[Source]] = Registry("source")

    @SOURCES.register("s3")
    class S3Source: ...

Adding a component is adding its module: the package that owns a registry imports every module
in its folder (load_package), so no central list is edited. An unknown name is a ConfigError that
lists the valid ones.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from bridge.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise RuntimeError(f"{self.kind} type {name!r} registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str, where: str = "type") -> T:
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"{where}: unknown {self.kind} type {name!r} (valid: {valid})") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._items


def load_package(package: str) -> None:
    """Import every module of a package (not starting with '_'), so their decorators run."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
