"""What every destination is: a typed config, a pure payload builder and a send.

A sink module registers its class with @SINKS.register("<type>"); the config `type:` is that
name and equals the module's file name. The queue worker calls `send(alerts)` with a batch (one
alert unless the destination batches) and reads the outcome from the exception it raises:
nothing = accepted (the batch leaves the queue), Retryable = try again later, Permanent = to
the dead-letter store, PartialFailure = per alert.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from bridge.errors import ConfigError, DeliveryError
from bridge.model import Alert
from bridge.registry import Registry
from bridge.route.escape import ESCAPERS
from bridge.route.template import Template


class Retryable(DeliveryError):
    """The destination may accept this later (timeouts, 408, 429, 5xx, throttling)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Permanent(DeliveryError):
    """The destination will never accept this as sent (other 4xx, validation errors)."""


class PartialFailure(DeliveryError):
    """A batch API accepted some alerts: indexes into the batch that failed, and why."""

    def __init__(self, retryable: dict[int, str], permanent: dict[int, str],
                 retry_after: float | None = None) -> None:
        super().__init__(f"{len(retryable)} retryable and {len(permanent)} permanent failures in a batch")
        self.retryable = retryable
        self.permanent = permanent
        self.retry_after = retry_after


def secret(value: str, where: str) -> str:
    """`env:NAME` reads an environment variable, `file:/path` a file (Kubernetes secrets);
    anything else is the value itself. Secrets are never logged."""
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]
    if value.startswith("file:"):
        try:
            return Path(value[5:]).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"{where}: cannot read {value[5:]!r}: {e.strerror or e}") from None
        except UnicodeDecodeError:  # the bytes are the secret: say where, never what
            raise ConfigError(f"{where}: {value[5:]!r} is not UTF-8 text") from None
    return value


@dataclass(frozen=True, kw_only=True)
class Batch:
    max_events: int = 0  # 0: the destination's own default
    interval: float = 1.0  # seconds to wait for a batch to fill before sending what there is


@dataclass(frozen=True, kw_only=True)
class QueueLimits:
    max_depth: int = 100_000
    max_age: float = 0.0  # seconds; 0 = no age bound
    policy: str = "block"  # block: intake answers 503; drop_oldest: oldest alerts are dropped and counted

    def validate(self, path: str) -> None:
        if self.policy not in ("block", "drop_oldest"):
            raise ConfigError(f"{path}.policy: {self.policy!r} is not one of 'block', 'drop_oldest'")
        if self.max_depth < 1:
            raise ConfigError(f"{path}.max_depth: must be at least 1")


@dataclass(frozen=True, kw_only=True)
class Common:
    """Settings every destination has; the remaining keys of its entry go to the sink's Config."""

    name: str
    type: str
    dedup_window: float = 0.0  # seconds; the same alert id within it is queued once
    rate_limit: float = 0.0  # alerts per second sent; 0 = unlimited
    batch: Batch = field(default_factory=Batch)
    template: str | None = None  # message text, `{field}` placeholders, escaped for the markup
    queue: QueueLimits | None = None  # overrides the top-level queue: limits
    backoff_base: float = 1.0
    backoff_max: float = 300.0


COMMON_KEYS = frozenset(Common.__dataclass_fields__)


class Sink:
    Config: ClassVar[type[Any]]
    markup: ClassVar[str] = "none"  # how alert text is escaped: none, slack, html, markdown
    max_batch: ClassVar[int] = 1  # default max_events
    batch_limit: ClassVar[int] = 10_000  # the most batch.max_events may be (1: one alert per request)
    summary: ClassVar[str] = ""
    example: ClassVar[str] = ""  # YAML for the doc page

    def __init__(self, name: str, config: Any, common: Common) -> None:
        self.name = name
        self.config = config
        self.common = common
        self.template = Template(common.template, self.markup) if common.template else None

    def text(self, alert: Alert) -> str:
        """The human message: the template, or Falco's output line escaped for the markup."""
        if self.template is not None:
            return self.template.render(alert)
        return ESCAPERS[self.markup](alert.output)

    def build(self, alerts: Sequence[Alert]) -> Any:
        raise NotImplementedError

    def send(self, alerts: Sequence[Alert]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        return None


SINKS: Registry[type[Sink]] = Registry("destination")
