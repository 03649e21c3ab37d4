"""One node's metrics as the helper sees them: the families it aggregates, parsed from Prometheus text.

Parsing uses prometheus-client's text parser. Only the families of `names.HELPER_METRICS` are kept; a text
that does not parse, or that holds none of them (a target that is not ipamd), is a `ParseError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from vpccni.metrics_helper.names import BY_SOURCE, Rule

Labels = tuple[tuple[str, str], ...]
QUANTILE = "0.99"  # the quantile the reference helper reads from a summary


class ParseError(ValueError):
    pass


class Summary(NamedTuple):
    """A summary series: observation count and sum, and its 0.99 quantile when the exporter computes one."""

    observations: float
    total: float
    p99: float | None = None


@dataclass
class NodeSnapshot:
    """`values`: gauge and counter series by family; `summaries`: the latency summary's series."""

    values: dict[str, dict[Labels, float]] = field(default_factory=dict)
    summaries: dict[str, dict[Labels, Summary]] = field(default_factory=dict)

    @classmethod
    def from_text(cls, text: str) -> NodeSnapshot:
        snapshot = cls()
        found = False
        try:
            for family in text_string_to_metric_families(text):
                metric = BY_SOURCE.get(family.name)
                if metric is None:
                    continue
                found = True
                if metric.rule is Rule.LATENCY_MAX:
                    snapshot.summaries[family.name] = _summary_series(family.name, family.samples)
                else:
                    wanted = (family.name, family.name + "_total")  # the parser names counter samples *_total
                    series = snapshot.values.setdefault(family.name, {})
                    for sample in family.samples:
                        if sample.name in wanted:
                            series[_key(sample.labels)] = float(sample.value)
        except (ValueError, TypeError, IndexError) as exc:  # what the parser raises on text that is not the format
            raise ParseError(f"not Prometheus text: {exc}") from None
        if not found:
            raise ParseError("no awscni_* metrics in the response")
        return snapshot


def _summary_series(name: str, samples: list[Sample]) -> dict[Labels, Summary]:
    counts: dict[Labels, float] = {}
    sums: dict[Labels, float] = {}
    p99: dict[Labels, float] = {}
    for sample in samples:
        if sample.name == name + "_count":
            counts[_key(sample.labels)] = float(sample.value)
        elif sample.name == name + "_sum":
            sums[_key(sample.labels)] = float(sample.value)
        elif sample.name == name and _same_quantile(sample.labels.get("quantile")):
            labels = {k: v for k, v in sample.labels.items() if k != "quantile"}
            if not math.isnan(sample.value):
                p99[_key(labels)] = float(sample.value)
    keys = {*counts, *sums, *p99}
    return {k: Summary(counts.get(k, 0.0), sums.get(k, 0.0), p99.get(k)) for k in keys}


def _same_quantile(value: str | None) -> bool:
    try:
        return value is not None and float(value) == float(QUANTILE)
    except ValueError:
        return False


def _key(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))
