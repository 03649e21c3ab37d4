"""Whole-run efficiency figures: idle addresses integrated over time, and how long pods wait for an address.

The idle-address figure is exact, not sampled: the simulation reports every node's idle count after each
thing that can change it (pool cycle, reconcile, CNI ADD/DEL, ipamd init, a settings restart, node
removal), and `IdleAddresses` integrates the piecewise-constant cluster sum at those instants in O(1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class IdleAddresses:
    """Σ over nodes of (addresses held for pods − addresses assigned), as a step function of virtual time.

    Several changes at one instant (a drain deletes pods one by one, then the node goes) count only through
    the value they leave: `peak` is the highest sum held for a positive time, or at the end of the run.
    `timeline` keeps one (time, sum) point per instant at which the sum changed, for the report's figure.
    """

    per_node: dict[str, int] = field(default_factory=dict)
    current: int = 0
    since: float = 0.0
    area: float = 0.0
    peak: int = 0
    timeline: list[tuple[float, int]] = field(default_factory=lambda: [(0.0, 0)])

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


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted `values` (0.0 when empty)."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


@dataclass
class IpWaits:
    """Seconds from a pod's binding to a node to its sandbox getting an address.

    Counts pods that need a pod address: not host-network, not DaemonSet pods. A pod returned to Pending
    (ip_aware) and bound again is measured from its last binding, the node that gave it its address.
    """

    waits: list[float] = field(default_factory=list)
    deleted_without_address: int = 0  # bound at some point, deleted (or drained) before getting an address

    def record(self, seconds: float) -> None:
        self.waits.append(seconds)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.waits)
        return {
            "p50": round(quantile(ordered, 0.5), 3),
            "p90": round(quantile(ordered, 0.9), 3),
            "p99": round(quantile(ordered, 0.99), 3),
            "max": round(ordered[-1], 3) if ordered else 0.0,
        }
