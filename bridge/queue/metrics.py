"""Per-destination forwarding metrics (label `destination`), one set for the process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

SENT = Counter("ctbridge_forward_sent", "Alerts the destination accepted", ["destination"])
FAILED = Counter("ctbridge_forward_failed", "Send attempts that failed (any reason)", ["destination"])
RETRIED = Counter("ctbridge_forward_retried", "Alerts scheduled for another attempt", ["destination"])
DEAD = Counter("ctbridge_forward_dead_lettered", "Alerts moved to the dead-letter store", ["destination"])
DROPPED = Counter("ctbridge_forward_dropped", "Alerts dropped by the drop_oldest queue policy", ["destination"])
DEDUPED = Counter("ctbridge_forward_deduplicated", "Alerts not queued: same id within the dedup window",
                  ["destination"])
LATENCY = Histogram("ctbridge_forward_latency_seconds", "From durable enqueue to accepted by the destination",
                    ["destination"], buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300))
INTAKE = Counter("ctbridge_forward_intake", "Alerts at the forward intake by result", ["result"])


class QueueGauges(Collector):
    """Depth and oldest age read from the queues at scrape time."""

    def __init__(self) -> None:
        self.sources: dict[str, Callable[[], tuple[int, float]]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("ctbridge_forward_queue_depth", "Alerts waiting per destination",
                                  labels=["destination"])
        age = GaugeMetricFamily("ctbridge_forward_queue_oldest_seconds", "Age of the oldest waiting alert",
                                labels=["destination"])
        for name, read in sorted(self.sources.items()):
            d, a = read()
            depth.add_metric([name], d)
            age.add_metric([name], a)
        yield depth
        yield age


GAUGES = QueueGauges()
REGISTRY.register(GAUGES)
