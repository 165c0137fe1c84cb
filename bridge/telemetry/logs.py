"""Logging set-up: one line per event on stderr, as text or JSON; never secrets."""

from __future__ import annotations

import logging
import os
import sys
import time

import orjson

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_QUIET_LIBRARIES = ("urllib3", "botocore", "boto3", "s3transfer")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


def setup(level: str | None = None, fmt: str | None = None) -> None:
    level = level or os.environ.get("CTBRIDGE_LOG_LEVEL", "info")
    fmt = fmt or os.environ.get("CTBRIDGE_LOG_FORMAT", "text")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r} (use debug, info, warning or error)")
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r} (use text or json)")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(FORMAT))
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    # Libraries that log whole request lines or headers at debug level: urllib3 writes each URL
    # (a webhook URL or query string carrying a token, a Slack webhook whole), botocore the signed
    # request. They stay at WARNING whatever --log-level says (tests/faults/test_pipeline_secrets.py).
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
