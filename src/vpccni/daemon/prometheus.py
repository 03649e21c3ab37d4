"""The engine's metrics sink for Prometheus, with the reference's exact exposition names.

prometheus-client's counters (and its text writer's TYPE lines) append `_total`; the reference exposes
e.g. `awscni_add_ip_req_count` as is. So this sink keeps the values itself, builds prometheus-client
`Metric` families from them, and writes the text format (0.0.4) with the names unchanged. Observations
keep only sums, counts and buckets, so a long-running daemon stays flat.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# name → (type, help); types and label sets follow ipamd spec §10.1.
SPECS: dict[str, tuple[str, str]] = {
    "awscni_ipamd_error_count": ("counter", "The number of errors encountered in ipamd"),
    "awscni_ipamd_action_inprogress": ("gauge", "The number of ipamd actions in progress"),
    "awscni_eni_max": ("gauge", "The maximum number of ENIs that can be attached to the instance"),
    "awscni_ip_max": ("gauge", "The maximum number of IP addresses that can be allocated to the instance"),
    "awscni_reconcile_count": ("counter", "The number of times ipamd reconciles on ENIs and IP/prefix addresses"),
    "awscni_add_ip_req_count": ("counter", "The number of add IP address requests"),
    "awscni_del_ip_req_count": ("counter", "The number of delete IP address requests"),
    "awscni_pod_eni_error_count": ("counter", "The number of errors encountered for pod ENIs"),
    "awscni_aws_api_latency_ms": ("summary", "AWS API call latency in ms"),
    "awscni_aws_api_error_count": ("counter", "The number of times AWS API returns an error"),
    "awscni_aws_utils_error_count": ("counter", "The number of errors not handled in awsutils library"),
    "awscni_ec2api_req_count": ("counter", "The number of requests made to EC2 APIs by CNI"),
    "awscni_ec2api_error_count": ("counter", "The number of failed EC2 APIs requests"),
    "awscni_eni_allocated": ("gauge", "The number of ENIs allocated"),
    "awscni_total_ip_addresses": ("gauge", "The total number of IP addresses"),
    "awscni_assigned_ip_addresses": ("gauge", "The number of IP addresses assigned to pods"),
    "awscni_force_removed_enis": ("counter", "The number of ENIs force removed while they had assigned pods"),
    "awscni_force_removed_ips": ("counter", "The number of IPs force removed while they had assigned pods"),
    "awscni_total_ipv4_prefixes": ("gauge", "The total number of IPv4 prefixes"),
    "awscni_assigned_ip_per_cidr": ("gauge", "The total number of IP addresses assigned per cidr"),
    "awscni_no_available_ip_addresses": ("counter", "The number of pod IP assignments that failed for lack of IPs"),
    "awscni_assigned_ip_per_eni": ("gauge", "The number of IP addresses assigned per ENI"),
    "awscni_ipamd_startup_duration_seconds": ("histogram", "Time from process start to ready to serve"),
    "awscni_ipamd_node_initialization_duration_seconds": ("histogram", "Engine construction and node init"),
    "awscni_connmark_backend": ("gauge", "The connmark backend in use"),
    "awscni_connmark_reconcile_total": ("counter", "Connmark setup and cleanup runs"),
    "awscni_adaptive_warm_target": ("gauge", "vpccni: the adaptive warm pool's low watermark (free addresses)"),
    "vpccni_checkpoint_writes": ("counter", "vpccni: durable checkpoint writes (group commit)"),
    "vpccni_checkpoint_changes": ("counter", "vpccni: datastore changes those writes carried"),
    "vpccni_cni_request_seconds": ("summary", "vpccni: a plugin request inside ipamd, frame in to reply out"),
    "vpccni_datapath_seconds": ("summary", "vpccni: pod wiring (add) and unwiring (delete)"),
    "vpccni_checkpoint_wait_seconds": ("summary", "vpccni: a reply waiting for the write holding its change"),
    "awscni_build_info": ("gauge", "A metric with a constant '1' value labeled by version and goversion"),
}


class PrometheusMetrics:
    """A `MetricsSink` whose state renders as the Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, dict[Labels, float]] = {}
        self.gauges: dict[str, dict[Labels, float]] = {}
        self.summaries: dict[str, dict[Labels, list[float]]] = {}  # [count, sum]
        self.histograms: dict[str, dict[Labels, list[float]]] = {}  # bucket counts..., +Inf, sum

    # --- MetricsSink ----------------------------------------------------------------------------
    def inc(self, name: str, amount: float = 1.0, labels: Labels = ()) -> None:
        key = _in_order(labels)
        table = self.gauges if SPECS.get(name, ("counter", ""))[0] == "gauge" else self.counters
        with self._lock:
            series = table.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, labels: Labels = ()) -> None:
        key = _in_order(labels)
        with self._lock:
            series = self.gauges.setdefault(name, {})
            if math.isnan(value):  # the engine's way of saying "delete this series"
                series.pop(key, None)
            else:
                series[key] = value

    def observe(self, name: str, value: float, labels: Labels = ()) -> None:
        key = _in_order(labels)
        kind = SPECS.get(name, ("summary", ""))[0]
        with self._lock:
            if kind == "histogram":
                buckets = self.histograms.setdefault(name, {}).setdefault(key, [0.0] * (len(BUCKETS) + 2))
                buckets[bisect.bisect_left(BUCKETS, value)] += 1
                buckets[-1] += value
            else:
                pair = self.summaries.setdefault(name, {}).setdefault(key, [0.0, 0.0])
                pair[0] += 1
                pair[1] += value

    # --- reading back ---------------------------------------------------------------------------
    def value(self, name: str, **labels: str) -> float | None:
        key = _key(labels)
        with self._lock:
            for table in (self.gauges, self.counters):
                if key in table.get(name, {}):
                    return table[name][key]
        return None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snapshot: list[tuple[str, str, Any]] = []
            for table, kind in ((self.counters, "counter"), (self.gauges, "gauge")):
                for name, series in table.items():
                    snapshot.append((name, kind, dict(series)))
            for name, summary in self.summaries.items():
                snapshot.append((name, "summary", {k: list(v) for k, v in summary.items()}))
            for name, histogram in self.histograms.items():
                snapshot.append((name, "histogram", {k: list(v) for k, v in histogram.items()}))
        for name, kind, series in sorted(snapshot):
            metric = Metric(name, SPECS.get(name, ("", name))[1], kind)
            for key, value in sorted(series.items()):
                labels = dict(key)
                if kind == "summary":
                    metric.add_sample(name + "_count", labels, value[0])
                    metric.add_sample(name + "_sum", labels, value[1])
                elif kind == "histogram":
                    running = 0.0
                    for bound, count in zip((*BUCKETS, math.inf), value[:-1], strict=True):
                        running += count
                        le = "+Inf" if bound == math.inf else repr(bound)
                        metric.add_sample(name + "_bucket", {**labels, "le": le}, running)
                    metric.add_sample(name + "_count", labels, running)
                    metric.add_sample(name + "_sum", labels, value[-1])
                else:
                    metric.add_sample(name, labels, value)
            yield metric

    def exposition(self) -> str:
        """The text format with the reference's names (TYPE lines name the family as sampled)."""
        lines: list[str] = []
        for metric in self.collect():
            lines.append(f"# HELP {metric.name} {_escape(metric.documentation, help_text=True)}")
            lines.append(f"# TYPE {metric.name} {metric.type}")
            for sample in metric.samples:
                labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels.items())
                lines.append(
                    f"{sample.name}{{{labels}}} {floatToGoString(sample.value)}"
                    if labels
                    else f"{sample.name} {floatToGoString(sample.value)}"
                )
        return "\n".join(lines) + "\n"


def _key(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _in_order(labels: Labels) -> Labels:
    """The engine passes labels in name order; the daemon still sorts them rather than fail a request over a
    metric (tests catch a mis-ordered call site: `CountingMetrics` refuses one)."""
    return tuple(sorted(labels))


def _escape(text: str, help_text: bool = False) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text if help_text else text.replace('"', '\\"')
