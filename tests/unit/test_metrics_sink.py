"""The engine's metrics sink keys a series by its labels in name order, passed positionally."""

from __future__ import annotations

import pytest

from vpccni.cluster.node_metrics import NodeCounters
from vpccni.daemon.prometheus import PrometheusMetrics
from vpccni.ipam.metrics import CountingMetrics, UnorderedLabels, label_set


def test_label_set_puts_labels_in_name_order() -> None:
    assert label_set(status="200", api="CreateTags", error="false") == (
        ("api", "CreateTags"),
        ("error", "false"),
        ("status", "200"),
    )
    assert label_set() == ()


def test_counting_metrics_refuses_labels_out_of_name_order() -> None:
    sink = CountingMetrics()
    with pytest.raises(UnorderedLabels, match="awscni_aws_utils_error_count"):
        sink.inc("awscni_aws_utils_error_count", 1.0, (("fn", "FreeENIDeleteErr"), ("error", "delete")))
    with pytest.raises(UnorderedLabels):
        sink.observe("awscni_aws_api_latency_ms", 3.0, (("api", "X"), ("status", "200"), ("error", "false")))
    assert not sink.counters and not sink.observations  # nothing recorded under a second key


def test_the_sinks_agree_on_one_series() -> None:
    labels = label_set(fn="CreateNetworkInterface")
    counting, counters, prometheus = CountingMetrics(), NodeCounters(), PrometheusMetrics()
    for sink in (counting, counters, prometheus):
        sink.inc("awscni_ec2api_req_count", 1.0, labels)
        sink.inc("awscni_ec2api_req_count", 2.0, labels)
    assert counting.by_label("awscni_ec2api_req_count", "fn") == {"CreateNetworkInterface": 3.0}
    assert counters.by_label("awscni_ec2api_req_count", "fn") == {"CreateNetworkInterface": 3.0}
    assert prometheus.value("awscni_ec2api_req_count", fn="CreateNetworkInterface") == 3.0


def test_the_daemon_sink_sorts_what_it_is_given() -> None:
    sink = PrometheusMetrics()
    sink.inc("awscni_aws_utils_error_count", 1.0, (("fn", "FreeENIDeleteErr"), ("error", "delete")))
    assert sink.value("awscni_aws_utils_error_count", error="delete", fn="FreeENIDeleteErr") == 1.0
