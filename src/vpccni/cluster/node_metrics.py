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
# `inc`'s default amount, named rather than written as a literal: mypyc (this module is compiled) fails to render
# the text signature of a method with a literal default before **labels, and leaves a named default out of it
ONE = 1.0  # not Final: a Final one is inlined as a literal, which trips the signature bug above


# labels as a call passed them → in name order; the engine's multi-label series come from small vocabularies
# (API names, error codes, statuses), so this stays small; it is emptied should it ever grow past the bound
_ORDERED: Final[dict[Labels, Labels]] = {}
_ORDERED_BOUND: Final = 4096


def _series_key(labels: dict[str, str]) -> Labels:
    """Labels in name order (single labels need no sort; a latency observation's three are sorted once)."""
    if not labels:
        return ()
    given = tuple([(name, value) for name, value in labels.items()])  # compiled dict walk: tuple(items()) is generic
    if len(given) < 2:
        return given
    ordered = _ORDERED.get(given)
    if ordered is None:
        if len(_ORDERED) >= _ORDERED_BOUND:
            _ORDERED.clear()
        ordered = _ORDERED[given] = tuple(sorted(given))
    return ordered


class NodeCounters:
    """EC2 calls and failed calls by action (`fn`), API errors by code (`error`), and the families the metrics
    helper reads (counters and gauges by labels, latency folded into count and sum, so memory stays flat);
    everything else is dropped."""

    __slots__ = ("calls", "failed_calls", "errors", "calls_total", "counters", "gauges", "summaries")

    def __init__(self) -> None:
        self.calls: dict[str, float] = {}
        self.failed_calls: dict[str, float] = {}
        self.errors: dict[str, float] = {}
        self.calls_total = 0.0
        self.counters: dict[str, dict[Labels, float]] = {}
        self.gauges: dict[str, dict[Labels, float]] = {}
        # count and sum, as the metrics helper reads them: a sample then takes the series as they are
        self.summaries: dict[str, dict[Labels, Summary]] = {}

    def inc(self, name: str, amount: float = ONE, **labels: str) -> None:
        if name == CALLS:
            fn = labels.get("fn", "")
            self.calls[fn] = self.calls.get(fn, 0.0) + amount
            self.calls_total += amount
        elif name == FAILED_CALLS:
            fn = labels.get("fn", "")
            self.failed_calls[fn] = self.failed_calls.get(fn, 0.0) + amount
        elif name == API_ERRORS:
            code = labels.get("error", "")
            self.errors[code] = self.errors.get(code, 0.0) + amount
        if name in HELPER_SOURCES:
            series = self.counters.get(name)
            if series is None:
                series = self.counters[name] = {}
            key = _series_key(labels)
            series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        """Only the gauges the metrics helper reads are kept (NaN deletes a series, as the engine means it)."""
        if name not in HELPER_SOURCES:
            return
        series = self.gauges.get(name)
        if series is None:
            series = self.gauges[name] = {}
        key = _series_key(labels)
        if value != value or (key and value == 0):  # NaN
            # a zero per-CIDR or per-ENI series adds nothing to the helper's sums; dropping it keeps a node's
            # memory flat while addresses come and go
            series.pop(key, None)
        else:
            series[key] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Only the latencies the metrics helper reads are kept, as count and sum."""
        if name not in HELPER_SOURCES:
            return
        series = self.summaries.get(name)
        if series is None:
            series = self.summaries[name] = {}
        key = _series_key(labels)
        folded = series.get(key)
        series[key] = Summary(1.0, value) if folded is None else Summary(folded.observations + 1, folded.total + value)

    def total(self, name: str) -> float:
        """A counter summed over its labels (the kept ones and the metrics helper's), like `CountingMetrics.total`."""
        if name == CALLS:
            return self.calls_total
        return sum(self.counters.get(name, {}).values())

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """A kept counter per value of its label, like `CountingMetrics.by_label` (empty for anything else)."""
        if KEPT.get(name) != label:
            return {}
        kept = {CALLS: self.calls, FAILED_CALLS: self.failed_calls, API_ERRORS: self.errors}[name]
        return dict(kept)
