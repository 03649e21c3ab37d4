"""Parsing a node's /metrics text with prometheus-client's parser: ipamd's own output, the reference's
summaries with quantiles, and what is not ipamd's metrics at all."""

from __future__ import annotations

import pytest

from vpccni.daemon.prometheus import PrometheusMetrics
from vpccni.ipam.metrics import label_set
from vpccni.metrics_helper.aggregate import ClusterAggregator
from vpccni.metrics_helper.snapshot import NodeSnapshot, ParseError, Summary


def test_the_daemons_exposition_parses_into_the_aggregated_families_only() -> None:
    sink = PrometheusMetrics()
    sink.inc("awscni_add_ip_req_count", 3)
    sink.inc("awscni_del_ip_req_count", 2, label_set(reason="PodDeleted"))
    sink.inc("awscni_del_ip_req_count", 1, label_set(reason="SetupNSFailed"))
    sink.set("awscni_eni_max", 3)
    sink.set("awscni_assigned_ip_per_cidr", 2, label_set(cidr="10.0.0.7/32"))
    sink.set("awscni_assigned_ip_per_eni", 2, label_set(eni="eni-1"))  # ignored by the helper
    sink.observe(
        "awscni_aws_api_latency_ms", 30.0, label_set(api="CreateNetworkInterface", error="false", status="200")
    )
    sink.observe(
        "awscni_aws_api_latency_ms", 50.0, label_set(api="CreateNetworkInterface", error="false", status="200")
    )
    sink.observe("awscni_ipamd_startup_duration_seconds", 1.5, label_set(success="true"))  # a histogram: ignored
    snapshot = NodeSnapshot.from_text(sink.exposition())
    assert snapshot.values == {
        "awscni_add_ip_req_count": {(): 3.0},
        "awscni_del_ip_req_count": {(("reason", "PodDeleted"),): 2.0, (("reason", "SetupNSFailed"),): 1.0},
        "awscni_eni_max": {(): 3.0},
        "awscni_assigned_ip_per_cidr": {(("cidr", "10.0.0.7/32"),): 2.0},
    }
    labels = (("api", "CreateNetworkInterface"), ("error", "false"), ("status", "200"))
    assert snapshot.summaries == {"awscni_aws_api_latency_ms": {labels: Summary(2.0, 80.0, None)}}
    figures = ClusterAggregator().aggregate({"node": snapshot})
    assert (figures["addReqCount"], figures["delReqCount"], figures["awsAPILatency"]) == (3, 3, 40.0)


GO_SUMMARY = """\
# HELP awscni_aws_api_latency_ms AWS API call latency in ms
# TYPE awscni_aws_api_latency_ms summary
awscni_aws_api_latency_ms{api="DescribeInstances",error="false",status="200",quantile="0.5"} 120
awscni_aws_api_latency_ms{api="DescribeInstances",error="false",status="200",quantile="0.99"} 410
awscni_aws_api_latency_ms_sum{api="DescribeInstances",error="false",status="200"} 2000
awscni_aws_api_latency_ms_count{api="DescribeInstances",error="false",status="200"} 10
awscni_aws_api_latency_ms{api="GetMetadata",error="false",status="200",quantile="0.99"} NaN
awscni_aws_api_latency_ms_sum{api="GetMetadata",error="false",status="200"} 0
awscni_aws_api_latency_ms_count{api="GetMetadata",error="false",status="200"} 0
# HELP awscni_total_ip_addresses The total number of IP addresses
# TYPE awscni_total_ip_addresses gauge
awscni_total_ip_addresses 18
"""


def test_a_summary_with_quantiles_gives_its_p99_and_nan_quantiles_are_ignored() -> None:
    snapshot = NodeSnapshot.from_text(GO_SUMMARY)
    figures = ClusterAggregator().aggregate({"node": snapshot})
    assert figures["awsAPILatency"] == 410.0
    assert figures["totalIPAddresses"] == 18.0


@pytest.mark.parametrize(
    "text",
    [
        "<html><body>502 Bad Gateway</body></html>\n",
        "awscni_total_ip_addresses twelve\n",
        '{"error": "not metrics"}\n',
        "",
        "# HELP process_cpu_seconds_total CPU\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3\n",
    ],
    ids=["html", "bad-value", "json", "empty", "another-exporter"],
)
def test_what_is_not_ipamds_metrics_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        NodeSnapshot.from_text(text)
