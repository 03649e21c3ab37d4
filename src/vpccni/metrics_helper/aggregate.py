"""The cluster aggregation: the reference helper's intent, without its counter bug (cluster spec §4.3).

Gauges are summed over every series of every node. Counters are published as the increase since the
previous poll, computed per node and series and then summed, so several nodes add up (the reference
subtracts one remembered total after each node and ends up publishing the last node's cumulative value).
A counter that went down was reset by a daemon restart: its increase is its new value, never negative. A
node seen for the first time contributes its whole count since its daemon started, which is also why one
poll alone (`--once`) gives the cluster's totals. The latency is the worst series anywhere: a series' 0.99
quantile when the exporter has one, else its mean over the interval (ipamd's summaries carry no quantiles,
the reference's included, which makes the reference helper publish 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from vpccni.metrics_helper.names import HELPER_METRICS, PUBLISHED_NAMES, Rule
from vpccni.metrics_helper.snapshot import Labels, NodeSnapshot, Summary

ClusterFigures = dict[str, float]  # published name → value, in `HELPER_METRICS` order

# (published, source) per rule: each published name is one metric's, so the order they are summed in is free
_GAUGES: Final = [(m.published, m.source) for m in HELPER_METRICS if m.rule is Rule.GAUGE_SUM]
_COUNTERS: Final = [(m.published, m.source) for m in HELPER_METRICS if m.rule is Rule.COUNTER_INCREASE]
_LATENCIES: Final = [(m.published, m.source) for m in HELPER_METRICS if m.rule is Rule.LATENCY_MAX]


class _NodeMemory:
    """A node's series at its last poll, by family then labels (no per-series key is built at each poll)."""

    __slots__ = ("counters", "latency", "seen")

    def __init__(self, seen: int = 0) -> None:
        self.counters: dict[str, dict[Labels, float]] = {}
        self.latency: dict[str, dict[Labels, Summary]] = {}
        self.seen = seen  # the poll that last scraped the node


# a family the node did not have at its last poll (read-only)
_NO_COUNTERS: Final[dict[Labels, float]] = {}
_NO_LATENCY: Final[dict[Labels, Summary]] = {}


class ClusterAggregator:
    """Holds each node's previous counters between polls; nodes unseen for `forget_after` polls are dropped
    (a replaced aws-node pod gets a new name, so its old memory would otherwise stay forever)."""

    def __init__(self, forget_after: int = 20) -> None:
        self.forget_after = forget_after
        self.polls = 0
        self._memory: dict[str, _NodeMemory] = {}

    def aggregate(self, snapshots: Mapping[str, NodeSnapshot]) -> ClusterFigures:
        """One poll's figures from the nodes that answered (keyed by a stable node or pod name)."""
        self.polls += 1
        figures: ClusterFigures = dict.fromkeys(PUBLISHED_NAMES, 0.0)
        for node, snapshot in snapshots.items():
            before = self._memory.get(node) or _NodeMemory()
            after = _NodeMemory(seen=self.polls)
            values, summaries = snapshot.values, snapshot.summaries
            # a family the node does not have adds nothing (and leaves nothing to remember)
            for published, source in _GAUGES:
                series = values.get(source)
                if series:
                    figures[published] += _gauge_sum(series)
            for published, source in _COUNTERS:
                series = values.get(source)
                if series:
                    now: dict[Labels, float] = {}
                    figures[published] += _increases(series, before.counters.get(source, _NO_COUNTERS), now)
                    after.counters[source] = now
            for published, source in _LATENCIES:
                latency = summaries.get(source)
                if latency:
                    worst = _worst_latency(latency, before.latency.get(source, _NO_LATENCY))
                    after.latency[source] = dict(latency)
                    figures[published] = max(figures[published], worst)
            self._memory[node] = after
        stale = [n for n, m in self._memory.items() if self.polls - m.seen >= self.forget_after]
        for node in stale:
            del self._memory[node]
        return figures

    @property
    def remembered(self) -> int:
        return len(self._memory)


def _gauge_sum(series: dict[Labels, float]) -> float:
    # a loop, not sum() over a generator: compiled, it adds unboxed floats in the same order
    total = 0.0
    for value in series.values():
        if not math.isnan(value):  # NaN: a series the exporter dropped
            total += value
    return total


def increase(previous: float | None, current: float) -> float:
    """A counter's increase between two scrapes: a drop means the daemon restarted and counted from 0."""
    if previous is None or current < previous:
        return current
    return current - previous


# dicts, not Mappings, in these signatures: compiled, a dict's get and items are native calls (once per series per poll)
def _increases(series: dict[Labels, float], before: dict[Labels, float], after: dict[Labels, float]) -> float:
    total = 0.0
    for labels, value in series.items():
        if math.isnan(value):
            continue
        total += increase(before.get(labels), value)
        after[labels] = value
    return total


def _worst_latency(series: dict[Labels, Summary], before: dict[Labels, Summary]) -> float:
    worst = 0.0
    for labels, summary in series.items():
        if summary.p99 is not None:
            worst = max(worst, summary.p99)
            continue
        previous = before.get(labels)
        if previous is None or summary.observations < previous.observations:
            count, total = summary.observations, summary.total
        else:
            count, total = summary.observations - previous.observations, summary.total - previous.total
        if count > 0:
            worst = max(worst, total / count)
    return worst
