"""The metrics sink of a simulated cluster node: only the counters anything reads back.

The engine reports dozens of gauges, counters and latency observations; a cluster run reads only EC2
calls per action, failed calls per action and API errors per code. Keeping everything (as
`CountingMetrics` does, with a list per latency series) costs time on every call and memory that grows
with simulated time.
"""

from __future__ import annotations

from typing import Final

from vpccni.metrics_helper.names import HELPER_METRICS
from vpccni.metrics_helper.snapshot import Labels, Summary

# What the CNI metrics helper reads of a node (the simulator's cluster figures): kept, summaries folded
HELPER_SOURCES: Final = frozenset(m.source for m in HELPER_METRICS)

CALLS: Final = "awscni_ec2api_req_count"
FAILED_CALLS: Final = "awscni_ec2api_error_count"
API_ERRORS: Final = "awscni_aws_api_error_count"
KEPT: Final = {CALLS: "fn", FAILED_CALLS: "fn", API_ERRORS: "error"}  # counter → the label it is kept by
# read back from the helper's counters, so they must be among them
assert all(name in HELPER_SOURCES for name in KEPT), "a kept counter is not one the metrics helper reads"


def _summary(observations: float, total: float) -> Summary:
    """Summary(observations, total), built as the tuple it is: the named tuple's generated __new__ is interpreted
    code, and a node folds one latency observation per EC2 call."""
    return tuple.__new__(Summary, (observations, total, None))


def _label(labels: Labels, name: str) -> str:
    """One label's value ("" when absent): the series' key is a handful of pairs, so a walk beats a dict."""
    for label, value in labels:
        if label == name:
            return value
    return ""


class NodeCounters:
    """The families the metrics helper reads (counters and gauges by labels, latency folded into count and sum, so
    memory stays flat), everything else dropped. EC2 calls and failed calls by action (`fn`) and API errors by code
    (`error`) are read from those same counters: one dict update per call, not one per view of it."""

    __slots__ = ("calls_total", "counters", "gauges", "summaries")

    def __init__(self) -> None:
        self.calls_total = 0.0  # read on every pool cycle (whether anything moved), so kept apart
        self.counters: dict[str, dict[Labels, float]] = {}
        self.gauges: dict[str, dict[Labels, float]] = {}
        # count and sum, as the metrics helper reads them: a sample then takes the series as they are
        self.summaries: dict[str, dict[Labels, Summary]] = {}

    def inc(self, name: str, amount: float = 1.0, labels: Labels = ()) -> None:
        if name == CALLS:
            self.calls_total += amount
        if name in HELPER_SOURCES:
            series = self.counters.get(name)
            if series is None:
                series = self.counters[name] = {}
            series[labels] = series.get(labels, 0.0) + amount

    def set(self, name: str, value: float, labels: Labels = ()) -> None:
        """Only the gauges the metrics helper reads are kept (NaN deletes a series, as the engine means it)."""
        if name not in HELPER_SOURCES:
            return
        series = self.gauges.get(name)
        if series is None:
            series = self.gauges[name] = {}
        if value != value or (labels and value == 0):  # NaN
            # a zero per-CIDR or per-ENI series adds nothing to the helper's sums; dropping it keeps a node's
            # memory flat while addresses come and go
            series.pop(labels, None)
        else:
            series[labels] = value

    def observe(self, name: str, value: float, labels: Labels = ()) -> None:
        """Only the latencies the metrics helper reads are kept, as count and sum."""
        if name not in HELPER_SOURCES:
            return
        series = self.summaries.get(name)
        if series is None:
            series = self.summaries[name] = {}
        folded = series.get(labels)
        if folded is None:
            series[labels] = _summary(1.0, value)
        else:
            series[labels] = _summary(folded.observations + 1, folded.total + value)

    def total(self, name: str) -> float:
        """A counter summed over its labels (the kept ones and the metrics helper's), like `CountingMetrics.total`."""
        if name == CALLS:
            return self.calls_total
        return sum(self.counters.get(name, {}).values())

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """A kept counter per value of its label, like `CountingMetrics.by_label` (empty for anything else), in the
        order the values were first counted. The counts are whole numbers, so the sums are exact in any order."""
        if KEPT.get(name) != label:
            return {}
        out: dict[str, float] = {}
        for labels, count in self.counters.get(name, {}).items():
            value = _label(labels, label)
            out[value] = out.get(value, 0.0) + count
        return out
