"""Simulator → trail → analysis agrees with the simulator; trail → replay → simulate → analysis, with the trail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vpccni.cli import app
from vpccni.cluster import ClusterSimulation, load_scenario
from vpccni.trail import analyse

SCENARIOS = Path(__file__).parents[2] / "scenarios"
RUNS = [(path.name, run.name) for path in sorted(SCENARIOS.glob("*.yaml")) for run in load_scenario(path).run_specs()]
runner = CliRunner()


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(("scenario", "run_name"), RUNS)
def test_per_instance_counts_equal_the_simulators_own(tmp_path: Path, scenario: str, run_name: str) -> None:
    loaded = load_scenario(SCENARIOS / scenario)
    run = next(r for r in loaded.run_specs() if r.name == run_name)
    sim = ClusterSimulation(loaded.for_run(run))
    summary = sim.run()
    trail = tmp_path / "trail.jsonl"
    sim.cloud.trail.write_jsonl(trail)
    data = analyse([str(trail)]).to_json()
    rows = {r["instance_id"]: r for r in data["instances"]}
    ready = [n for n in sim.all_nodes() if n.ipam is not None]
    assert ready
    for node in ready:
        assert node.ipam is not None
        ds = node.ipam.ds
        calls = node.metrics.by_label("awscni_ec2api_req_count", "fn")
        failed = node.metrics.by_label("awscni_ec2api_error_count", "fn")
        row = rows[node.instance_id]
        assert row["enis_end"] == len(ds.enis)
        assert row["ips_held_end"] == sum(1 for e in ds.enis.values() for c in e.cidrs.values() if not c.is_prefix)
        assert row["prefixes_held_end"] == ds.allocated_prefix
        for action, key in (("CreateNetworkInterface", "enis_created"), ("DeleteNetworkInterface", "enis_deleted")):
            assert row[key] == calls.get(action, 0) - failed.get(action, 0), (node.instance_id, key)
    assert sum(rows[n.instance_id]["enis_end"] for n in ready) == summary["enis"]
    assert sum(rows[n.instance_id]["ips_held_end"] for n in ready) == summary["secondary_ips"]
    assert sum(rows[n.instance_id]["prefixes_held_end"] for n in ready) == summary["prefixes"]
    if not data["throttling"]:  # without retries every failed call is one logical error
        errors: dict[str, int] = {}
        for entry in data["by_action"].values():
            for code, count in entry["errors"].items():
                errors[code] = errors.get(code, 0) + count
        assert errors == summary["errors"]


def test_shared_subnet_exhaustion_trail_tells_the_story(tmp_path: Path) -> None:
    """The issue's acceptance: the subnet, the first failing time and the hoarding instances."""
    trail = tmp_path / "sse.jsonl"
    scenario = str(SCENARIOS / "shared-subnet-exhaustion.yaml")
    _cli("simulate", scenario, "--run", "default-warm-eni", "--trail", str(trail), "--json")
    data = json.loads(_cli("trail", "analyze", str(trail), "--json"))
    subnet = data["subnets"][0]
    assert subnet["exhaustion_errors"] == 29 and subnet["first_exhaustion"] == "2026-01-01T00:09:03Z"
    exhaustion = data["findings"][0]
    assert (exhaustion["kind"], exhaustion["subject"]) == ("subnet-exhaustion", subnet["subnet_id"])
    assert "from 2026-01-01T00:09:03Z" in exhaustion["message"] and len(exhaustion["evidence"]) == 29
    hoarders = [f["subject"] for f in data["findings"] if f["kind"] == "warm-pool-hoarding"]
    assert hoarders == [r["instance_id"] for r in data["instances"]] and len(hoarders) == 3
    assert [(r["enis_end"], r["ips_held_end"]) for r in data["instances"]] == [(2, 28), (3, 42), (3, 42)]
    text = runner.invoke(app, ["trail", "analyze", str(trail)], terminal_width=200).stdout
    assert text.index("subnet-exhaustion") < text.index("instances (at the end of the trail)")
    assert subnet["subnet_id"] in text and "2026-01-01T00:09:03Z" in text
    assert all(h in text for h in hoarders)


def _kinds(path: Path) -> set[str]:
    return {f["kind"] for f in json.loads(_cli("trail", "analyze", str(path), "--json"))["findings"]}


def test_replay_of_an_exhaustion_reproduces_it(tmp_path: Path) -> None:
    original = tmp_path / "original.jsonl"
    scenario = str(SCENARIOS / "shared-subnet-exhaustion.yaml")
    _cli("simulate", scenario, "--run", "default-warm-eni", "--trail", str(original), "--json")
    replayed = tmp_path / "replayed.yaml"
    _cli("trail", "replay", str(original), "-o", str(replayed))
    loaded = load_scenario(replayed)
    assert loaded.subnets[0].cidr == "10.0.0.0/24" and loaded.subnets[0].used_by_others == 117
    group = loaded.node_groups[0]
    assert (group.instance_type, group.min, group.max, group.ipamd) == ("t3.2xlarge", 3, 3, {"WARM_ENI_TARGET": "1"})
    text = replayed.read_text()
    assert "cidr: 10.0.0.0/24  # observed (CreateSubnet)" in text
    assert "used_by_others: 117  # inferred: 251 usable − 120 held" in text
    again = tmp_path / "again.jsonl"
    summary = json.loads(_cli("simulate", str(replayed), "--trail", str(again), "--json"))
    assert summary["errors"].get("InsufficientFreeAddressesInSubnet", 0) > 0
    assert _kinds(again) == _kinds(original) == {"subnet-exhaustion", "warm-pool-hoarding"}


def test_replay_of_the_warm_eni_zero_oscillation_reproduces_it(tmp_path: Path) -> None:
    original = tmp_path / "node.json"
    _cli("node-sim", "-t", "m5.large", "--pods", "9", "--env", "WARM_ENI_TARGET=0", "--trail", str(original), "--json")
    replayed = tmp_path / "replayed.yaml"
    _cli("trail", "replay", str(original), "-o", str(replayed))
    loaded = load_scenario(replayed)
    assert loaded.node_groups[0].ipamd == {"WARM_ENI_TARGET": "0"}
    assert loaded.deployments[0].replicas == 9  # the pod count that keeps the oscillation going
    again = tmp_path / "again.jsonl"
    _cli("simulate", str(replayed), "--trail", str(again), "--json")
    assert _kinds(again) == _kinds(original) == {"eni-churn"}


def test_replay_infers_warm_ip_target_and_the_demand(tmp_path: Path) -> None:
    original = tmp_path / "tuned.jsonl"
    scenario = str(SCENARIOS / "shared-subnet-exhaustion.yaml")
    _cli("simulate", scenario, "--run", "tuned-warm-ip", "--trail", str(original), "--json")
    replayed = tmp_path / "replayed.yaml"
    _cli("trail", "replay", str(original), "-o", str(replayed))
    loaded = load_scenario(replayed)
    assert loaded.node_groups[0].ipamd == {"WARM_ENI_TARGET": "0", "WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "10"}
    peak = max([loaded.deployments[0].replicas, *(a.scale.replicas for a in loaded.actions if a.scale)])
    assert peak == 100  # the original ran 100 pods: the fewest its calls imply is all of them
    summary = json.loads(_cli("simulate", str(replayed), "--json"))
    assert summary["errors"] == {} and summary["pods_waiting_for_ip"] == 0


@pytest.mark.parametrize(("scenario", "run_name"), RUNS)
def test_every_shipped_scenario_replays_to_the_same_findings(tmp_path: Path, scenario: str, run_name: str) -> None:
    original = tmp_path / "original.jsonl"
    path = str(SCENARIOS / scenario)
    _cli("simulate", path, "--run", run_name, "--trail", str(original), "--json")
    replayed = tmp_path / "replayed.yaml"
    _cli("trail", "replay", str(original), "-o", str(replayed))
    again = tmp_path / "again.jsonl"
    sim = ClusterSimulation(load_scenario(replayed))
    sim.run()
    sim.cloud.trail.write_jsonl(again)
    assert _kinds(again) == _kinds(original)
