"""Where the engine reports its metrics: an injected sink keyed by the reference's awscni_* names.

A series is named by its labels as a tuple of (name, value) pairs in name order, passed positionally: the
sink stores that tuple as the series key as it is. The engine reports on every EC2 call and pod; keyword
labels made each report build, sort and parse a dict (about a tenth of a simulated cluster's time). Cold
call sites write `label_set(fn=...)`; hot ones write the sorted tuple.

`CountingMetrics` keeps them in dictionaries (node and cluster simulators read them back, tests check the
labels are in name order); the daemon passes a sink that forwards to prometheus-client.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

Labels = tuple[tuple[str, str], ...]


def label_set(**labels: str) -> Labels:
    """The labels of one series in name order, the form every sink keys it by."""
    return tuple(sorted(labels.items()))


class UnorderedLabels(ValueError):
    """A series' labels not in name order: the same series would be keyed twice."""

    def __init__(self, name: str, labels: Labels) -> None:
        super().__init__(f"{name}: labels {labels!r} are not in name order (use label_set)")


def checked(name: str, labels: Labels) -> Labels:
    """`labels` as given, or UnorderedLabels."""
    if any(labels[i][0] >= labels[i + 1][0] for i in range(len(labels) - 1)):
        raise UnorderedLabels(name, labels)
    return labels


class MetricsSink(Protocol):
    def inc(self, name: str, amount: float = 1.0, labels: Labels = ()) -> None: ...

    def set(self, name: str, value: float, labels: Labels = ()) -> None: ...

    def observe(self, name: str, value: float, labels: Labels = ()) -> None: ...


class CountingMetrics:
    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self.observations: dict[str, dict[Labels, list[float]]] = defaultdict(lambda: defaultdict(list))

    def inc(self, name: str, amount: float = 1.0, labels: Labels = ()) -> None:
        key = checked(name, labels)  # before the defaultdicts make an entry for the name
        self.counters[name][key] += amount

    def set(self, name: str, value: float, labels: Labels = ()) -> None:
        key = checked(name, labels)
        self.gauges[name][key] = value

    def observe(self, name: str, value: float, labels: Labels = ()) -> None:
        key = checked(name, labels)
        self.observations[name][key].append(value)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """A counter summed per value of one label, e.g. by_label("awscni_ec2api_req_count", "fn")."""
        out: dict[str, float] = defaultdict(float)
        for labels, value in self.counters.get(name, {}).items():
            out[dict(labels).get(label, "")] += value
        return dict(out)

    def total(self, name: str) -> float:
        return sum(self.counters.get(name, {}).values())
