"""Where the engine reports its metrics: an injected sink keyed by the reference's awscni_* names.

`CountingMetrics` keeps them in dictionaries (node and cluster simulators read them back); the
daemon passes a sink that forwards to prometheus-client.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

Labels = tuple[tuple[str, str], ...]


class MetricsSink(Protocol):
    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None: ...

    def set(self, name: str, value: float, **labels: str) -> None: ...

    def observe(self, name: str, value: float, **labels: str) -> None: ...


class CountingMetrics:
    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self.observations: dict[str, dict[Labels, list[float]]] = defaultdict(lambda: defaultdict(list))

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counters[name][tuple(sorted(labels.items()))] += amount

    def set(self, name: str, value: float, **labels: str) -> None:
        self.gauges[name][tuple(sorted(labels.items()))] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.observations[name][tuple(sorted(labels.items()))].append(value)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """A counter summed per value of one label, e.g. by_label("awscni_ec2api_req_count", "fn")."""
        out: dict[str, float] = defaultdict(float)
        for labels, value in self.counters.get(name, {}).items():
            out[dict(labels).get(label, "")] += value
        return dict(out)

    def total(self, name: str) -> float:
        return sum(self.counters.get(name, {}).values())
