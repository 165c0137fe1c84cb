"""Logging set-up: one line per event on stderr, never secrets."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r} (use debug, info, warning or error)")
    logging.basicConfig(level=numeric, format=FORMAT, stream=sys.stderr, force=True)
