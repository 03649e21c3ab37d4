"""Every shipped scenario reaches the outcome its file expects; idle-node skipping changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vpccni.cloud.sim import SimEc2
from vpccni.cluster import ClusterSimulation, ScenarioError, load_scenario
from vpccni.cluster.expect import check

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
RUNS = [(path, run.name) for path in SCENARIOS for run in load_scenario(path).run_specs()]


def test_the_field_note_scenarios_ship() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {
        "two-nodes-100-pods",
        "scale-out",
        "scale-in-blocked",
        "shared-subnet-exhaustion",
        "max-pods-misconfigured",
        "prefix-delegation",
        "minimum-ip-target",
    } <= names


@pytest.mark.parametrize(("path", "run_name"), RUNS, ids=[f"{p.stem}:{r}" for p, r in RUNS])
def test_scenario_outcome(path: Path, run_name: str) -> None:
    scenario = load_scenario(path)
    run = next(r for r in scenario.run_specs() if r.name == run_name)
    assert run.expect, f"{path.name}:{run_name} states no expected outcome"
    summary = ClusterSimulation(scenario.for_run(run)).run()
    assert check(summary, run.expect) == []


@pytest.mark.parametrize("name", ["two-nodes-100-pods", "scale-out", "shared-subnet-exhaustion"])
def test_skipping_idle_nodes_gives_the_same_results_as_stepping_every_cycle(name: str) -> None:
    scenario = load_scenario(Path(__file__).parents[2] / "scenarios" / f"{name}.yaml")
    for run in scenario.run_specs():
        skipping = ClusterSimulation(scenario.for_run(run), skip_idle=True)
        stepping = ClusterSimulation(scenario.for_run(run), skip_idle=False)
        fast, slow = skipping.run(), stepping.run()
        assert skipping.node_steps < stepping.node_steps / 2  # the point of skipping
        for volatile in ("events", "node_steps"):
            fast.pop(volatile), slow.pop(volatile)
        assert fast == slow
        assert [s["pods"] for s in skipping.samples] == [s["pods"] for s in stepping.samples]
        assert [s["subnet_free"] for s in skipping.samples] == [s["subnet_free"] for s in stepping.samples]


def _node_addresses(sim: ClusterSimulation) -> list[str]:
    """Every secondary address the simulated account holds at the end of a run."""
    return sorted(a for eni in SimEc2(sim.cloud).describe_network_interfaces() for a in eni.secondary_ips)


def test_same_seed_same_result_other_seed_other_addresses() -> None:
    scenario = load_scenario(Path(__file__).parents[2] / "scenarios" / "scale-out.yaml")
    first, again = ClusterSimulation(scenario), ClusterSimulation(scenario)
    other = ClusterSimulation(scenario, seed=scenario.seed + 1)
    first_summary, again_summary, other_summary = first.run(), again.run(), other.run()
    assert first_summary == again_summary
    assert _node_addresses(first) == _node_addresses(again)
    assert len(_node_addresses(other)) == len(_node_addresses(first)) == 28  # the same pool, other addresses
    assert _node_addresses(other) != _node_addresses(first)
    outcome = ("nodes_final", "nodes_max", "pods_running", "pods_waiting_for_ip", "enis", "assigned_ips")
    assert {k: other_summary[k] for k in outcome} == {k: first_summary[k] for k in outcome}  # timing moves, not this


def test_scale_in_blocked_waits_for_the_cloud_api(tmp_path: Path) -> None:
    scenario = load_scenario(Path(__file__).parents[2] / "scenarios" / "scale-in-blocked.yaml")
    sim = ClusterSimulation(scenario)
    sim.run()
    events = sim.autoscaler.log.events
    down = next(e for e in events if e["event"] == "scale-down")
    errors = [e for e in events if e["event"] == "error"]
    assert errors and min(float(e["t"]) for e in errors) >= 1800 + 60 - 10  # once the 1-minute cache expired
    assert max(float(e["t"]) for e in errors) < 3600
    assert float(down["t"]) >= 3600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nduration: 10\nsubnets: []\nnode_groups: []\n", "subnets: List should have at least 1 item"),
        (
            "name: x\nduration: 10\nsubnets: [{name: a, cidr: 10.0.0.0/24}]\n"
            "node_groups: [{name: g, instance_type: m5.larg, max: 1, subnets: [a]}]\n",
            "node_groups.0.instance_type: Value error, unknown instance type 'm5.larg'",
        ),
        (
            "name: x\nduration: 10\nsubnets: [{name: a, cidr: 10.0.0.0/24}]\n"
            "node_groups: [{name: g, instance_type: m5.large, max: 1, subnets: [b]}]\n",
            "node group 'g' names unknown subnet 'b'",
        ),
        (
            "name: x\nduration: 10\nsubnets: [{name: a, cidr: 10.0.0.0/24}]\n"
            "node_groups: [{name: g, instance_type: m5.large, max: 1, subnets: [a]}]\n"
            "deployments: [{name: d, replicas: 1, requests: {cpu: lots}}]\n",
            "deployments.0.requests.cpu: Value error, 'lots' is not a CPU quantity",
        ),
        ("name: x\nduration: 10\nsubnets: [{name: a, cidr: 10.0.0.0/24, colour: red}]\n", "subnets.0.colour"),
        ("- just\n- a list\n", "expected a mapping at the top level"),
    ],
)
def test_bad_scenarios_name_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as failed:
        load_scenario(path)
    assert str(path) in str(failed.value) and message in str(failed.value)


def test_raised_ec2_api_limits_end_the_throttling_of_a_busy_cluster() -> None:
    """`ec2_api_limits` scales every bucket: 400 nodes of churn are throttled at the default limits (3,722
    attempts refused, 251 calls failing after retries) and not at all at ten times them."""
    from vpccni.cluster.churn import churn_scenario
    from vpccni.cluster.scenario import Scenario

    def run(limits: float) -> dict[str, Any]:
        document = churn_scenario(400, 0.5)
        document["ec2_api_limits"] = limits
        return ClusterSimulation(Scenario.model_validate(document), trail="none").run()

    default, raised = run(1.0), run(10.0)
    assert (default["throttled_calls"], default["errors"]) == (3722, {"RequestLimitExceeded": 251})
    assert (raised["throttled_calls"], raised["errors"]) == (0, {})
    assert raised["ec2_mutating_calls"] == 3600 < default["ec2_mutating_calls"] == 6601
    assert raised["pods_running"] == default["pods_running"] == 8800
    with pytest.raises(ValueError, match="ec2_api_limits"):
        Scenario.model_validate({**churn_scenario(4, 0.1), "ec2_api_limits": 0})
