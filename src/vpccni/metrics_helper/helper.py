"""The poll loop: find the nodes, scrape them side by side, aggregate, publish, export; forever or once.

A node that does not answer (unreachable, an HTTP error, text that is not ipamd's metrics) is skipped,
counted in `vpccni_metrics_helper_scrape_errors_total` and logged; the others are still published. A poll
in which no node answered publishes nothing (zeros would read as an empty cluster).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from vpccni.metrics_helper.aggregate import ClusterAggregator, ClusterFigures
from vpccni.metrics_helper.exporter import PrometheusExport
from vpccni.metrics_helper.snapshot import NodeSnapshot, ParseError
from vpccni.metrics_helper.targets import DiscoveryError, ScrapeError, Target

log = logging.getLogger("vpccni.metrics_helper")


class Publisher(Protocol):
    def publish(self, figures: ClusterFigures, timestamp: datetime) -> bool: ...


@dataclass
class PollResult:
    at: datetime
    figures: ClusterFigures
    nodes: list[str] = field(default_factory=list)  # targets that answered
    failed: dict[str, str] = field(default_factory=dict)  # target → why it was skipped
    published: bool | None = None  # None: nothing to publish to, or nothing measured

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.at.isoformat().replace("+00:00", "Z"),
            "nodes": len(self.nodes),
            "targets_failed": self.failed,
            "published": self.published,
            "metrics": {name: _number(value) for name, value in self.figures.items()},
        }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class MetricsHelper:
    def __init__(
        self,
        discover: Callable[[], list[Target]],
        *,
        publishers: Sequence[Publisher] = (),
        export: PrometheusExport | None = None,
        timeout: float = 10.0,
        workers: int = 8,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.discover = discover
        self.publishers = list(publishers)
        self.export = export or PrometheusExport()
        self.timeout = timeout
        self.workers = workers
        self.now = now
        self.aggregator = ClusterAggregator()

    def poll(self) -> PollResult:
        at = self.now()
        try:
            targets = self.discover()
        except DiscoveryError as exc:
            log.warning("cannot list the nodes", extra={"error": str(exc)})
            self.export.discovery_errors.inc()
            targets = []
        snapshots: dict[str, NodeSnapshot] = {}
        failed: dict[str, str] = {}
        if targets:
            with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(targets)))) as pool:
                for target, outcome in zip(targets, pool.map(self._scrape, targets), strict=True):
                    if isinstance(outcome, NodeSnapshot):
                        snapshots[target.name] = outcome
                    else:
                        failed[target.name] = str(outcome)
                        self.export.scrape_errors.labels(reason=outcome.reason).inc()
                        log.warning("node skipped", extra={"path": target.name, "error": str(outcome)})
        figures = self.aggregator.aggregate(snapshots)
        result = PollResult(at, figures, sorted(snapshots), failed)
        self.export.update(figures, len(snapshots))
        if snapshots and self.publishers:
            result.published = all([publisher.publish(figures, at) for publisher in self.publishers])
        elif not snapshots:
            log.warning("no node answered: nothing published", extra={"status": f"{len(targets)} targets"})
        return result

    def _scrape(self, target: Target) -> NodeSnapshot | ScrapeError:
        try:
            return NodeSnapshot.from_text(target.fetch(self.timeout))
        except ScrapeError as exc:
            return exc
        except ParseError as exc:
            return ScrapeError("parse", str(exc))

    def run(self, interval: float, stop: threading.Event, on_poll: Callable[[PollResult], None] | None = None) -> None:
        """Poll every `interval` seconds (from the start of one poll to the next) until `stop` is set."""
        while not stop.is_set():
            began = time.monotonic()
            result = self.poll()
            if on_poll is not None:
                on_poll(result)
            stop.wait(max(0.0, interval - (time.monotonic() - began)))
