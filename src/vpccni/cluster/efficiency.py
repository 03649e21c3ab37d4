"""Whole-run efficiency figures: idle addresses integrated over time, and how long pods wait for an address.

The idle-address figure is exact, not sampled: the simulation reports every node's idle count after each
thing that can change it (pool cycle, reconcile, CNI ADD/DEL, ipamd init, a settings restart, node
removal), and `IdleAddresses` integrates the piecewise-constant cluster sum at those instants in O(1).

Memory stays bounded however long the run: the idle timeline (for the report's figure only) is thinned to
at most `max_points` points, and wait times are counted per millisecond value, which gives the summary's
quantiles exactly (they are reported to the millisecond, and rounding keeps the order of values).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from vpccni.cluster.rounding import round_decimal

DEFAULT_MAX_POINTS = 2000  # points kept per time series for the report's figures


@dataclass
class IdleAddresses:
    """Σ over nodes of (addresses held for pods − addresses assigned), as a step function of virtual time.

    Several changes at one instant (a drain deletes pods one by one, then the node goes) count only through
    the value they leave: `peak` is the highest sum held for a positive time, or at the end of the run.
    `timeline` keeps one (time, sum) point per instant at which the sum changed, for the report's figure;
    past `max_points` points, neighbours merge pairwise into their first instant and higher value (the
    figure keeps its peaks; the mean and maximum above are computed from every change regardless).
    """

    per_node: dict[str, int] = field(default_factory=dict)
    current: int = 0
    since: float = 0.0
    area: float = 0.0
    peak: int = 0
    timeline: list[tuple[float, int]] = field(default_factory=lambda: [(0.0, 0)])
    max_points: int = DEFAULT_MAX_POINTS

    def update(self, node: str, idle: int, now: float) -> None:
        """Node `node` holds `idle` unassigned addresses from `now` on (0 once it is gone)."""
        previous = self.per_node.get(node, 0)
        if idle == previous:
            return
        self._advance(now)
        if idle:
            self.per_node[node] = idle
        else:
            self.per_node.pop(node, None)
        self.current += idle - previous
        if self.timeline[-1][0] == now:
            self.timeline[-1] = (now, self.current)
        else:
            self.timeline.append((now, self.current))
            if len(self.timeline) > self.max_points:
                self.timeline = thin_steps(self.timeline)

    def _advance(self, now: float) -> None:
        if now > self.since:
            self.area += self.current * (now - self.since)
            self.peak = max(self.peak, self.current)
            self.since = now

    def mean(self, end: float) -> float:
        """The time-weighted mean over virtual time 0..`end`."""
        if end <= 0:
            return float(self.current)
        return (self.area + self.current * max(0.0, end - self.since)) / end

    def maximum(self) -> int:
        return max(self.peak, self.current)


def thin_steps(points: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """Half as many points of a step series: each pair becomes its first instant and its higher value.

    The last point stays as it is, so the series still ends on the current value.
    """
    last = points[-1]
    body = points[:-1]
    thinned = [(body[i][0], max(body[i][1], body[i + 1][1])) for i in range(0, len(body) - 1, 2)]
    if len(body) % 2:
        thinned.append(body[-1])
    thinned.append(last)
    return thinned


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted `values` (0.0 when empty)."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


@dataclass
class Durations:
    """A distribution of durations in seconds, kept as counts per millisecond value.

    Quantiles are nearest-rank, like `quantile` over every value, and reported to the millisecond: counting
    values already rounded to the millisecond gives the same figures (rounding never reorders values),
    in memory bounded by the number of distinct milliseconds rather than the number of pods. Two of them
    merge by adding their counts.
    """

    counts: dict[float, int] = field(default_factory=dict)  # a plain dict: compiled, indexed natively per pod
    n: int = 0

    def record(self, seconds: float) -> None:
        value = round_decimal(seconds, 3)  # round(seconds, 3), fast
        self.counts[value] = self.counts.get(value, 0) + 1
        self.n += 1

    def merge(self, other: Durations) -> None:
        counts = self.counts
        for value, count in other.counts.items():
            counts[value] = counts.get(value, 0) + count
        self.n += other.n

    def quantile(self, q: float) -> float:
        """The nearest-rank `q` quantile, to the millisecond (0.0 when empty)."""
        if not self.n:
            return 0.0
        rank = min(self.n - 1, max(0, math.ceil(q * self.n) - 1))
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            if seen > rank:
                return value
        raise AssertionError("unreachable: the counts add up to n")

    def maximum(self) -> float:
        return max(self.counts) if self.counts else 0.0

    def values(self) -> Iterator[float]:
        """Every recorded duration (to the millisecond), in ascending order."""
        for value in sorted(self.counts):
            for _ in range(self.counts[value]):
                yield value


@dataclass
class IpWaits:
    """Seconds from a pod's binding to a node to its sandbox getting an address.

    Counts pods that need a pod address: not host-network, not DaemonSet pods. A pod returned to Pending
    (ip_aware) and bound again is measured from its last binding, the node that gave it its address.
    """

    durations: Durations = field(default_factory=Durations)
    deleted_without_address: int = 0  # bound at some point, deleted (or drained) before getting an address

    @property
    def waits(self) -> list[float]:
        """Every wait, to the millisecond, in ascending order (for figures)."""
        return list(self.durations.values())

    def record(self, seconds: float) -> None:
        self.durations.record(seconds)

    def summary(self) -> dict[str, float]:
        d = self.durations
        return {"p50": d.quantile(0.5), "p90": d.quantile(0.9), "p99": d.quantile(0.99), "max": d.maximum()}
