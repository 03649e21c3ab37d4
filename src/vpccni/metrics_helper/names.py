"""What the helper publishes: the reference cni-metrics-helper's metric set, names and defaults.

One table is the source of truth: the aggregator, the CloudWatch publisher, the Prometheus re-export, the
simulator's series, the report and the tests all read it (cluster spec §4.2).
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class Rule(Enum):
    GAUGE_SUM = "sum"  # every series of every node summed: a true cluster total
    COUNTER_INCREASE = "increase"  # per node and series, the increase since the previous poll, then summed
    LATENCY_MAX = "max"  # the worst series anywhere: a latency does not add up across nodes


class HelperMetric(NamedTuple):
    source: str  # ipamd's metric family
    published: str  # the helper's CloudWatch metric name
    rule: Rule


G, C = Rule.GAUGE_SUM, Rule.COUNTER_INCREASE
HELPER_METRICS: tuple[HelperMetric, ...] = (
    HelperMetric("awscni_assigned_ip_addresses", "assignIPAddresses", G),
    HelperMetric("awscni_total_ip_addresses", "totalIPAddresses", G),
    HelperMetric("awscni_total_ipv4_prefixes", "totalIPv4Prefixes", G),
    HelperMetric("awscni_assigned_ip_per_cidr", "totalAssignedIPv4sPerCidr", G),
    HelperMetric("awscni_eni_allocated", "eniAllocated", G),
    HelperMetric("awscni_eni_max", "eniMaxAvailable", G),
    HelperMetric("awscni_ip_max", "maxIPAddresses", G),
    HelperMetric("awscni_aws_api_latency_ms", "awsAPILatency", Rule.LATENCY_MAX),
    HelperMetric("awscni_aws_api_error_count", "awsAPIErr", C),
    HelperMetric("awscni_aws_utils_error_count", "awsUtilErr", C),
    HelperMetric("awscni_ipamd_error_count", "ipamdErr", C),
    HelperMetric("awscni_force_removed_enis", "forceRemoveENI", C),
    HelperMetric("awscni_force_removed_ips", "forceRemoveIPs", C),
    HelperMetric("awscni_ipamd_action_inprogress", "ipamdActionInProgress", G),
    HelperMetric("awscni_reconcile_count", "reconcileCount", C),
    HelperMetric("awscni_add_ip_req_count", "addReqCount", C),
    HelperMetric("awscni_del_ip_req_count", "delReqCount", C),
    HelperMetric("awscni_pod_eni_error_count", "podENIErr", C),
    HelperMetric("awscni_ec2api_req_count", "ec2ApiReqCount", C),
    HelperMetric("awscni_ec2api_error_count", "ec2ApiErrCount", C),
)
BY_SOURCE = {m.source: m for m in HELPER_METRICS}
PUBLISHED_NAMES = tuple(m.published for m in HELPER_METRICS)

# The gauges the reference helper re-exports on its Prometheus endpoint, under ipamd's own names.
PROMETHEUS_REEXPORT = (
    "awscni_eni_max",
    "awscni_ip_max",
    "awscni_eni_allocated",
    "awscni_total_ip_addresses",
    "awscni_assigned_ip_addresses",
    "awscni_total_ipv4_prefixes",
)

# CloudWatch: the reference's namespace, dimension and fallback cluster id; PutMetricData batch size.
NAMESPACE = "Kubernetes"
DIMENSION = "CLUSTER_ID"
DEFAULT_CLUSTER_ID = "k8s-cluster"
BATCH_SIZE = 20

# Where the nodes are and where the helper listens (the reference's defaults).
NODE_METRICS_PORT = 61678
HELPER_PORT = 61681
DEFAULT_INTERVAL = 30
POD_NAMESPACE = "kube-system"
POD_SELECTOR = "k8s-app=aws-node"

# The reference helper's environment variables, read as defaults of the matching flags.
ENV_CLUSTER_ID = "AWS_CLUSTER_ID"
ENV_USE_CLOUDWATCH = "USE_CLOUDWATCH"
ENV_INTERVAL = "METRIC_UPDATE_INTERVAL"
ENV_REGION = "AWS_REGION"
