"""Efficiency metrics: the idle-address integral is exact, EC2 attempts are counted as CloudTrail records them."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from vpccni.cli import app
from vpccni.cloud.clock import VirtualClock
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2
from vpccni.cluster import ClusterSimulation, load_scenario
from vpccni.cluster.efficiency import IdleAddresses, quantile
from vpccni.cluster.scenario import Scenario
from vpccni.cluster.simulation import MUTATING_ACTIONS

SCENARIOS = Path(__file__).parents[2] / "scenarios"
NEW_KEYS = {
    "pods_created",
    "pods_deleted",
    "idle_ips_mean",
    "idle_ips_max",
    "ip_wait_seconds",
    "pods_never_got_ip",
    "ec2_mutating_calls",
    "throttled_calls",
    "subnet_used_max",
    "autoscaler_backoffs",
}


def test_idle_integral_by_hand() -> None:
    idle = IdleAddresses()
    idle.update("a", 10, 100.0)  # 0 over [0, 100)
    idle.update("b", 5, 100.0)  # same instant: one step to 15
    idle.update("a", 4, 300.0)  # 15 over [100, 300)
    idle.update("b", 0, 500.0)  # 9 over [300, 500), then 4
    assert idle.timeline == [(0.0, 0), (100.0, 15), (300.0, 9), (500.0, 4)]
    assert idle.mean(1000.0) == pytest.approx((15 * 200 + 9 * 200 + 4 * 500) / 1000)
    assert idle.maximum() == 15


def test_a_spike_of_no_duration_is_not_a_maximum() -> None:
    idle = IdleAddresses()
    idle.update("a", 3, 10.0)
    idle.update("a", 40, 20.0)  # a drain frees every address of a node that is removed the same instant
    idle.update("a", 0, 20.0)
    assert idle.maximum() == 3
    assert idle.mean(40.0) == pytest.approx(3 * 10 / 40)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50), st.floats(0, 100)), max_size=40))
def test_idle_integral_matches_a_brute_force_sum(changes: list[tuple[int, int, float]]) -> None:
    idle = IdleAddresses()
    now = 0.0
    steps: list[tuple[float, dict[str, int]]] = [(0.0, {})]
    for node, value, gap in changes:
        now += gap
        idle.update(f"n{node}", value, now)
        steps.append((now, {**steps[-1][1], f"n{node}": value}))
    end = now + 10.0
    spans = list(zip(steps, [*steps[1:], (end, {})], strict=True))
    area = sum(sum(held.values()) * (t1 - t0) for (t0, held), (t1, _) in spans)
    assert idle.mean(end) == pytest.approx(area / end, rel=1e-9, abs=1e-9)
    assert idle.current == sum(steps[-1][1].values())
    held_for_a_while = [sum(held.values()) for (t0, held), (t1, _) in spans if t1 > t0]
    assert idle.maximum() == max([*held_for_a_while, idle.current])


def test_quantiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [quantile(values, q) for q in (0.5, 0.9, 0.99)] == [50.0, 90.0, 99.0]
    assert quantile([], 0.5) == 0.0


def _actual_idle(sim: ClusterSimulation) -> int:
    return sum(n.ipam.ds.total - n.ipam.ds.assigned for n in sim.all_nodes() if n.ipam is not None and not n.tainted)


WORKLOADS: dict[str, Any] = {
    "name": "churn",
    "seed": 3,
    "duration": 3600,
    "subnets": [{"name": "a", "cidr": "10.0.0.0/22"}],
    "node_groups": [{"name": "g", "instance_type": "t3.large", "min": 1, "max": 4, "subnets": ["a"]}],
    "daemonsets": [{"name": "aws-node"}, {"name": "kube-proxy"}],
    "deployments": [{"name": "web", "replicas": 6}],
    "jobs": [{"name": "batch", "start": 300, "every": 900, "pods": 40, "lifetime": {"min": 200, "max": 400}}],
    "arrivals": [{"name": "w", "rate_per_minute": 2, "lifetime": {"mean": 600}}],
    "rollouts": [{"deployment": "web", "start": 1200, "every": 1200}],
    "autoscaler": {"scale_down_unneeded_time": 300, "scale_down_delay_after_add": 300},
}


@pytest.mark.parametrize(
    "source",
    [
        "scale-in-blocked.yaml",
        "shared-subnet-exhaustion.yaml",
        "prefix-delegation.yaml",
        "max-pods-misconfigured.yaml",
        "workloads",
    ],
)
def test_the_integral_follows_every_change_of_every_node(source: str) -> None:
    """After every event the integral's current value is the true cluster sum: no change goes unreported."""
    scenario = Scenario.model_validate(WORKLOADS) if source == "workloads" else load_scenario(SCENARIOS / source)
    for run in scenario.run_specs():
        sim = ClusterSimulation(scenario.for_run(run))
        end = sim.scenario.duration
        checked = 0
        while (when := sim.events.peek_time()) is not None and when <= end:
            popped = sim.events.pop()
            assert popped is not None
            sim.world.advance_to(popped[0])
            popped[1]()
            assert sim.idle.current == _actual_idle(sim), f"{run.name} at {popped[0]}"
            checked += 1
        assert checked > 100


def test_workload_churn_scales_out_and_in() -> None:
    sim = ClusterSimulation(Scenario.model_validate(WORKLOADS))
    summary = sim.run()
    assert summary["autoscaler"]["scale_ups"] >= 1 and summary["autoscaler"]["scale_downs"] >= 1
    assert set(summary) >= NEW_KEYS
    assert summary["pods_never_got_ip"] >= 0


def test_idle_mean_of_minimum_ip_target_by_hand() -> None:
    """Three nodes hold 5 addresses each from ipamd init (90 s); six pods take 6 of them at 301 s."""
    sim = ClusterSimulation(load_scenario(SCENARIOS / "minimum-ip-target.yaml"))
    summary = sim.run()
    assert sim.idle.timeline == [(0.0, 0), (90.0, 15), (301.0, 9)]
    assert summary["idle_ips_mean"] == round((15 * (301 - 90) + 9 * (900 - 301)) / 900, 3)
    assert summary["idle_ips_max"] == 15
    # 3 primary addresses + 15 secondaries; the sampled subnet_free_min misses what ipamd init takes
    assert summary["subnet_used_max"] == {"private-a": 18}


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_mutating_calls_are_the_trails_records(path: Path) -> None:
    scenario = load_scenario(path)
    for run in scenario.run_specs():
        sim = ClusterSimulation(scenario.for_run(run))
        summary = sim.run()
        events = sim.cloud.trail.events()  # the cluster simulation records every mutating attempt
        assert summary["ec2_mutating_calls"] == sum(1 for e in events if e["eventName"] in MUTATING_ACTIONS)
        throttled_recorded = sum(1 for e in events if e.get("errorCode") == "Client.RequestLimitExceeded")
        assert summary["throttled_calls"] >= throttled_recorded
        for name, used in summary["subnet_used_max"].items():
            assert used >= sim.subnet_sizes[name] - summary["subnet_free_min"][name]


def test_throttled_attempts_are_counted_even_for_unrecorded_describes() -> None:
    clock = VirtualClock()
    config = SimConfig(record_read_only=False, throttle_overrides={"DescribeSubnets": (2, 0.5)}, latency=False)
    cloud = SimCloud(clock, random.Random(1), config)
    ec2 = SimEc2(cloud)
    vpc = ec2.create_vpc("10.0.0.0/16")
    ec2.create_subnet(vpc.vpc_id, "10.0.0.0/24", "us-west-2a")
    for _ in range(3):
        ec2.describe_subnets()
    # 2 tokens, then the third call is throttled and retried until a token refills at 0.5/s
    assert cloud.trail.count(["DescribeSubnets"]) == 3 + cloud.trail.count(error="RequestLimitExceeded")
    assert cloud.trail.count(error="RequestLimitExceeded") >= 1
    assert cloud.trail.count(["CreateVpc", "CreateSubnet"]) == 2
    assert [e["eventName"] for e in cloud.trail.events()] == ["CreateVpc", "CreateSubnet"]


def test_simulate_json_prints_the_new_metrics() -> None:
    result = CliRunner().invoke(app, ["simulate", str(SCENARIOS / "shared-subnet-exhaustion.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [r["name"] for r in runs] == ["default-warm-eni", "tuned-warm-ip"]
    for run in runs:
        assert set(run) >= NEW_KEYS
        assert set(run["ip_wait_seconds"]) == {"p50", "p90", "p99", "max"}
    default, tuned = runs
    assert default["idle_ips_mean"] > 3 * tuned["idle_ips_mean"]  # WARM_ENI_TARGET=1 hoards a spare ENI per node
    assert default["pods_never_got_ip"] == 5 and tuned["pods_never_got_ip"] == 0
