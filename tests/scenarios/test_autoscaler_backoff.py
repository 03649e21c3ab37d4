"""The autoscaler backs off a node group whose scale-up failed (cluster spec §2.1 step 2, §2.3 step 7)."""

from __future__ import annotations

from typing import Any

from vpccni.cluster import ClusterSimulation
from vpccni.cluster.backoff import NodeGroupBackoff
from vpccni.cluster.scenario import Scenario

# A /26 (59 usable addresses) with 29 taken by others: the first c5.xlarge and its warm pool (primary address,
# 14 secondaries, a spare ENI of 15) take the other 30, so no further instance can get a primary address.
FULL: dict[str, Any] = {
    "name": "subnet-full",
    "seed": 1,
    "duration": 21600,
    "subnets": [{"name": "small", "cidr": "10.0.0.0/26", "used_by_others": 29}],
    "node_groups": [{"name": "workers", "instance_type": "c5.xlarge", "min": 1, "max": 5, "subnets": ["small"]}],
    "daemonsets": [{"name": "aws-node"}, {"name": "kube-proxy"}],
    "deployments": [{"name": "web", "replicas": 80, "at": 60, "requests": {"cpu": "10m", "memory": "16Mi"}}],
}


def _run(data: dict[str, Any]) -> tuple[ClusterSimulation, dict[str, Any]]:
    sim = ClusterSimulation(Scenario.model_validate(data))
    return sim, sim.run()


def _backoffs(sim: ClusterSimulation) -> list[tuple[float, str, float]]:
    return [(e["t"], str(e["group"]), e["seconds"]) for e in sim.autoscaler.log.events if e["event"] == "backoff"]


def test_refused_launches_back_off_5_10_20_then_30_minutes() -> None:
    sim, summary = _run(FULL)
    assert _backoffs(sim) == [
        (100.0, "workers", 300.0),
        (400.0, "workers", 600.0),
        (1000.0, "workers", 1200.0),
        *[(2200.0 + 1800.0 * i, "workers", 1800.0) for i in range(11)],
    ]
    assert sim.asg_calls["RunInstances"] == 15  # the initial node, then one attempt per back-off expiry
    assert summary["errors"]["InsufficientFreeAddressesInSubnet"] >= 14
    assert summary["autoscaler"] == {"scale_ups": 0, "scale_downs": 0, "errors": 14}  # failures are not scale-ups
    assert summary["autoscaler_backoffs"] == 14
    assert (summary["nodes_max"], summary["pods_pending_unschedulable"]) == (1, 24)


def test_a_success_ends_the_back_off() -> None:
    data = {**FULL, "actions": [{"at": 3000, "subnet_usage": {"subnet": "small", "release": 29}}]}
    sim, summary = _run(data)
    assert _backoffs(sim) == [
        (100.0, "workers", 300.0),
        (400.0, "workers", 600.0),
        (1000.0, "workers", 1200.0),
        (2200.0, "workers", 1800.0),
    ]
    ups = [e for e in sim.autoscaler.log.events if e["event"] == "scale-up"]
    assert [(e["t"], e["nodes"]) for e in ups] == [(4000.0, 1)]  # the first scan after the back-off expired
    assert summary["autoscaler"]["scale_ups"] == 1 and summary["nodes_final"] == 2
    assert sim.autoscaler.backoff.groups == {}  # the new node became Ready


def test_a_backed_off_group_is_not_an_option() -> None:
    data = {
        **FULL,
        "duration": 3600,
        "subnets": [*FULL["subnets"], {"name": "roomy", "cidr": "10.0.1.0/24"}],
        "node_groups": [
            {"name": "in-full", "instance_type": "m5.large", "min": 0, "max": 5, "subnets": ["small"]},
            *FULL["node_groups"],
            {"name": "in-roomy", "instance_type": "m5.large", "min": 0, "max": 5, "subnets": ["roomy"]},
        ],
    }
    sim, summary = _run(data)
    assert _backoffs(sim) == [(100.0, "in-full", 300.0)]
    ups = [(e["t"], e["group"]) for e in sim.autoscaler.log.events if e["event"] == "scale-up"]
    assert ups == [(110.0, "in-roomy")]  # the next scan picks the other group
    assert (summary["autoscaler"]["scale_ups"], summary["autoscaler"]["errors"]) == (1, 1)


def test_nodes_not_ready_in_time_are_given_up_and_back_off_their_group() -> None:
    data = {
        **FULL,
        "duration": 7200,
        "subnets": [{"name": "small", "cidr": "10.0.0.0/24"}],
        "node_groups": [{**FULL["node_groups"][0], "boot_delay": 1200}],
    }
    sim, summary = _run(data)
    assert _backoffs(sim) == [
        (900.0, "workers", 300.0),  # the group's minimum node: backed off, but kept (min size), Ready at 1230 s
        (2140.0, "workers", 300.0),  # that Ready node reset the back-off
        (3340.0, "workers", 600.0),
        (4840.0, "workers", 1200.0),
        (6940.0, "workers", 1800.0),
    ]
    ups = [e["t"] for e in sim.autoscaler.log.events if e["event"] == "scale-up"]
    assert ups == [1240.0, 2440.0, 3940.0, 6040.0]
    assert sim.asg_calls["RunInstances"] == 5 and sim.asg_calls["TerminateInstances"] == 4
    assert [n.name for n in sim.removed_nodes] == ["workers-0002", "workers-0003", "workers-0004", "workers-0005"]
    assert summary["nodes_final"] == 1  # only the minimum node is left


def test_backoff_durations() -> None:
    backoff = NodeGroupBackoff()
    assert [backoff.fail("g", t) for t in (0.0, 300.0, 900.0, 2100.0, 3900.0)] == [300, 600, 1200, 1800, 1800]
    assert backoff.backed_off("g", 5699.0) and not backoff.backed_off("g", 5700.0)
    assert not backoff.backed_off("other", 0.0)
    assert backoff.fail("g", 3900.0 + 10800.0) == 300  # 3 h without a failure: forgotten
    backoff.succeed("g")
    assert not backoff.backed_off("g", 3900.0 + 10800.0) and backoff.fail("g", 20000.0) == 300
