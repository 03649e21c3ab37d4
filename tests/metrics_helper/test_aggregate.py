"""The aggregation rules with exact numbers: gauge sums, counter increases and resets, the latency max."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from vpccni.metrics_helper.aggregate import ClusterAggregator, increase
from vpccni.metrics_helper.names import HELPER_METRICS, PUBLISHED_NAMES, Rule
from vpccni.metrics_helper.snapshot import NodeSnapshot, Summary


def node(
    add: float = 0.0,
    assigned: float = 0.0,
    per_cidr: dict[str, float] | None = None,
    errors: dict[str, float] | None = None,
    latency: dict[str, Summary] | None = None,
) -> NodeSnapshot:
    snapshot = NodeSnapshot()
    snapshot.values["awscni_add_ip_req_count"] = {(): add}
    snapshot.values["awscni_assigned_ip_addresses"] = {(): assigned}
    snapshot.values["awscni_assigned_ip_per_cidr"] = {(("cidr", c),): v for c, v in (per_cidr or {}).items()}
    snapshot.values["awscni_ipamd_error_count"] = {(("fn", f),): v for f, v in (errors or {}).items()}
    snapshot.summaries["awscni_aws_api_latency_ms"] = {(("api", a),): s for a, s in (latency or {}).items()}
    return snapshot


def test_the_published_set_is_the_reference_helpers_twenty_names() -> None:
    assert PUBLISHED_NAMES == (
        "assignIPAddresses",
        "totalIPAddresses",
        "totalIPv4Prefixes",
        "totalAssignedIPv4sPerCidr",
        "eniAllocated",
        "eniMaxAvailable",
        "maxIPAddresses",
        "awsAPILatency",
        "awsAPIErr",
        "awsUtilErr",
        "ipamdErr",
        "forceRemoveENI",
        "forceRemoveIPs",
        "ipamdActionInProgress",
        "reconcileCount",
        "addReqCount",
        "delReqCount",
        "podENIErr",
        "ec2ApiReqCount",
        "ec2ApiErrCount",
    )
    assert [m.published for m in HELPER_METRICS if m.rule is Rule.LATENCY_MAX] == ["awsAPILatency"]
    assert sum(1 for m in HELPER_METRICS if m.rule is Rule.COUNTER_INCREASE) == 11


def test_gauges_sum_every_series_of_every_node_and_skip_dropped_series() -> None:
    figures = ClusterAggregator().aggregate(
        {
            "a": node(assigned=4, per_cidr={"10.0.0.5/32": 1, "10.0.0.6/32": 1, "10.0.0.16/28": 2}),
            "b": node(assigned=7, per_cidr={"10.0.1.0/28": 7, "10.0.1.16/28": math.nan}),
        }
    )
    assert figures["assignIPAddresses"] == 11
    assert figures["totalAssignedIPv4sPerCidr"] == 11
    assert figures["totalIPAddresses"] == 0  # absent family: nothing to add


def test_counters_publish_the_sum_of_per_node_increases_not_the_last_nodes_value() -> None:
    """Cluster spec §4.3's example: A 10 → 15 and B 20 → 22 is 30 and then 7 (the reference: 20, then 22)."""
    aggregator = ClusterAggregator()
    assert aggregator.aggregate({"a": node(add=10), "b": node(add=20)})["addReqCount"] == 30
    assert aggregator.aggregate({"a": node(add=15), "b": node(add=22)})["addReqCount"] == 7
    assert aggregator.aggregate({"a": node(add=15), "b": node(add=22)})["addReqCount"] == 0


def test_a_restarted_node_counts_from_zero_and_never_gives_a_negative_increase() -> None:
    aggregator = ClusterAggregator()
    aggregator.aggregate({"a": node(errors={"nodeInit": 3, "increaseIPPool": 5})})
    after_restart = aggregator.aggregate({"a": node(errors={"nodeInit": 1})})
    assert after_restart["ipamdErr"] == 1
    assert aggregator.aggregate({"a": node(errors={"nodeInit": 4, "increaseIPPool": 2})})["ipamdErr"] == 5


def test_a_node_that_misses_a_poll_is_counted_from_where_it_was_last_seen() -> None:
    aggregator = ClusterAggregator()
    aggregator.aggregate({"a": node(add=10), "b": node(add=1)})
    assert aggregator.aggregate({"b": node(add=2)})["addReqCount"] == 1  # a did not answer
    assert aggregator.aggregate({"a": node(add=14), "b": node(add=2)})["addReqCount"] == 4


def test_nodes_gone_for_good_are_forgotten() -> None:
    aggregator = ClusterAggregator(forget_after=3)
    aggregator.aggregate({"old-pod": node(add=5)})
    for _ in range(3):
        aggregator.aggregate({"new-pod": node(add=1)})
    assert aggregator.remembered == 1


def test_latency_is_the_worst_series_quantile_else_the_interval_mean() -> None:
    aggregator = ClusterAggregator()
    first = aggregator.aggregate(
        {
            "a": node(latency={"CreateNetworkInterface": Summary(4, 800.0), "DescribeInstances": Summary(10, 500.0)}),
            "b": node(latency={"AssignPrivateIpAddresses": Summary(2, 120.0, p99=90.0)}),
        }
    )
    assert first["awsAPILatency"] == 200.0  # a's CreateNetworkInterface: 800 / 4
    second = aggregator.aggregate(
        {
            "a": node(latency={"CreateNetworkInterface": Summary(5, 830.0), "DescribeInstances": Summary(10, 500.0)}),
            "b": node(latency={"AssignPrivateIpAddresses": Summary(3, 200.0, p99=95.5)}),
        }
    )
    assert second["awsAPILatency"] == 95.5  # a's interval mean is 30 (one call), DescribeInstances had none
    assert aggregator.aggregate({})["awsAPILatency"] == 0.0


def test_one_poll_of_nothing_is_all_zeros_in_the_published_order() -> None:
    figures = ClusterAggregator().aggregate({})
    assert list(figures) == list(PUBLISHED_NAMES)
    assert set(figures.values()) == {0.0}


# A counter's life across polls: it grows, and a daemon restart sets it back to a smaller value.
counter_histories = st.lists(
    st.tuples(st.integers(0, 50), st.booleans()),  # (growth before the poll, restart before the poll)
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(counter_histories, min_size=1, max_size=4))
def test_published_increases_add_up_to_every_count_made_and_are_never_negative(
    histories: list[list[tuple[int, bool]]],
) -> None:
    aggregator = ClusterAggregator()
    values = [0] * len(histories)
    counted = 0  # every increment every daemon made, across restarts
    hidden = 0  # a restart that re-grew to at least its old value before the poll cannot be told from growth
    published = 0.0
    for step in range(max(len(h) for h in histories)):
        snapshots = {}
        for i, history in enumerate(histories):
            if step >= len(history):
                continue
            growth, restart = history[step]
            old = values[i]
            if restart:
                values[i] = 0
            values[i] += growth
            counted += growth
            if restart and step > 0 and values[i] >= old:
                hidden += old
            snapshots[f"n{i}"] = node(add=values[i])
        figure = aggregator.aggregate(snapshots)["addReqCount"]
        assert figure >= 0
        published += figure
    assert published == counted - hidden


@given(st.floats(0, 1e9), st.floats(0, 1e9))
def test_increase_is_never_negative(previous: float, current: float) -> None:
    assert increase(previous, current) >= 0
    assert increase(None, current) == current
