"""The helper's own Prometheus endpoint (:61681): the cluster figures and the helper's health.

The six gauges the reference helper re-exports keep ipamd's names (`awscni_eni_max`, ...), holding cluster
sums, so existing dashboards carry over; every published figure is also `vpccni_metrics_helper_cluster`
labelled with its CloudWatch name. prometheus-client's own registry and HTTP server serve them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, start_http_server

from vpccni.metrics_helper.names import BY_SOURCE, PROMETHEUS_REEXPORT


class PrometheusExport:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.cluster = Gauge(
            "vpccni_metrics_helper_cluster",
            "The cluster figure published to CloudWatch under the label's name (counters: increase over the poll)",
            ["metric"],
            registry=registry,
        )
        self.reexported = {
            name: Gauge(name, f"Cluster total of ipamd's {name} (the reference helper's re-export)", registry=registry)
            for name in PROMETHEUS_REEXPORT
        }
        self.scrape_errors = Counter(
            "vpccni_metrics_helper_scrape_errors",
            "Node scrapes that failed, by reason (unreachable, http, parse)",
            ["reason"],
            registry=registry,
        )
        self.discovery_errors = Counter(
            "vpccni_metrics_helper_discovery_errors", "Failures to list the aws-node pods", registry=registry
        )
        self.cloudwatch_errors = Counter(
            "vpccni_metrics_helper_cloudwatch_errors",
            "PutMetricData failures, by error code",
            ["code"],
            registry=registry,
        )
        self.polls = Counter("vpccni_metrics_helper_polls", "Polls of the nodes", registry=registry)
        self.nodes = Gauge(
            "vpccni_metrics_helper_nodes_scraped", "Nodes that answered the last poll", registry=registry
        )
        self.server: Any = None

    def update(self, figures: Mapping[str, float], nodes: int) -> None:
        self.polls.inc()
        self.nodes.set(nodes)
        if nodes == 0:
            return  # nothing was measured: keep the last values rather than report an empty cluster
        for name, value in figures.items():
            self.cluster.labels(metric=name).set(value)
        for name, gauge in self.reexported.items():
            gauge.set(figures[BY_SOURCE[name].published])

    def serve(self, address: str, port: int) -> int:
        """Start the HTTP server in a daemon thread; returns the bound port (0 picks a free one)."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        self.server = server
        return int(server.server_address[1])

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()
