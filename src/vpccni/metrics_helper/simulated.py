"""The helper's cluster figures inside the cluster simulator, through the same aggregation code.

At each time-series sample every node is read as its daemon's `/metrics` would show it at that instant
(the datastore gauges refreshed first, as the daemon does before a scrape) from the engine's in-memory
sink, without text in between. Latency observations are folded into count and sum incrementally, so a
sample costs the same on the last simulated hour as on the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol, TypeGuard

from vpccni.ipam.metrics import CountingMetrics
from vpccni.ipam.node import NodeIpam
from vpccni.metrics_helper.aggregate import ClusterAggregator, ClusterFigures
from vpccni.metrics_helper.names import HELPER_METRICS, Rule
from vpccni.metrics_helper.snapshot import Labels, NodeSnapshot, Summary

_VALUE_SOURCES: Final = tuple(m.source for m in HELPER_METRICS if m.rule is not Rule.LATENCY_MAX)
_LATENCY_SOURCES: Final = tuple(m.source for m in HELPER_METRICS if m.rule is Rule.LATENCY_MAX)


class _SinkReader:
    """One node's sink as a snapshot; remembers how far each latency series' observations were summed."""

    def __init__(self) -> None:
        self._folded: dict[tuple[str, Labels], tuple[int, float]] = {}

    def read(self, metrics: CountingMetrics) -> NodeSnapshot:
        snapshot = NodeSnapshot()
        for source in _VALUE_SOURCES:
            # the engine's sink files inc() under counters and set() under gauges, whatever the family's type
            series = metrics.gauges.get(source) or metrics.counters.get(source)
            if series:
                snapshot.values[source] = series  # read-only use: no copy
        for source in _LATENCY_SOURCES:
            observed = metrics.observations.get(source)
            if not observed:
                continue
            summaries: dict[Labels, Summary] = {}
            for labels, values in observed.items():
                done, total = self._folded.get((source, labels), (0, 0.0))
                if len(values) > done:
                    total += sum(values[done:])
                    done = len(values)
                    self._folded[(source, labels)] = (done, total)
                summaries[labels] = Summary(float(done), total)
            snapshot.summaries[source] = summaries
        return snapshot


class FoldedSink(Protocol):
    """A sink keeping the helper's families with latency already folded (the simulator's `NodeCounters`)."""

    counters: dict[str, dict[Labels, float]]
    gauges: dict[str, dict[Labels, float]]
    summaries: dict[str, dict[Labels, Summary]]


def _read_folded(sink: FoldedSink) -> NodeSnapshot:
    snapshot = NodeSnapshot()
    # each attribute read once: the sink is typed by a Protocol, so every read is a generic lookup
    gauges, counters, summaries = sink.gauges, sink.counters, sink.summaries
    values, latencies = snapshot.values, snapshot.summaries
    for source in _VALUE_SOURCES:
        series = gauges.get(source) or counters.get(source)
        if series:
            values[source] = series
    for source in _LATENCY_SOURCES:
        folded = summaries.get(source)
        if folded:
            latencies[source] = folded  # read-only use: no copy
    return snapshot


class ClusterSeries:
    """Call `sample` at each time-series sample with the nodes whose ipamd runs (name → engine)."""

    def __init__(self) -> None:
        self.aggregator = ClusterAggregator()
        self._readers: dict[str, _SinkReader] = {}
        self._folded_types: dict[type, bool] = {}  # checked once per sink type

    def sample(self, engines: Mapping[str, NodeIpam]) -> ClusterFigures:
        snapshots: dict[str, NodeSnapshot] = {}
        for name, engine in engines.items():
            engine.report_gauges()
            sink = engine.metrics
            if isinstance(sink, CountingMetrics):
                snapshots[name] = self._readers.setdefault(name, _SinkReader()).read(sink)
            elif self._is_folded(sink):
                snapshots[name] = _read_folded(sink)
            else:
                raise TypeError(f"node {name}: its engine reports to a sink the cluster figures cannot read")
        for gone in set(self._readers) - set(engines):
            del self._readers[gone]
        return self.aggregator.aggregate(snapshots)

    def _is_folded(self, sink: object) -> TypeGuard[FoldedSink]:
        kind = type(sink)
        folded = self._folded_types.get(kind)
        if folded is None:
            folded = self._folded_types[kind] = all(hasattr(sink, a) for a in ("counters", "gauges", "summaries"))
        return folded
