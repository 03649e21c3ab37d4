"""The standard traces in scenarios/traces/: what each must contain, and its reference-default outcome."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vpccni import catalog
from vpccni.cli import app
from vpccni.cluster import ClusterSimulation, load_scenario
from vpccni.cluster.scenario import Scenario

TRACES = Path(__file__).parents[2] / "scenarios" / "traces"
NAMES = ["batch-churn", "bursty-deploy", "scale-out-burst", "steady"]
EFFICIENCY = ("idle_ips_mean", "idle_ips_max", "ip_wait_seconds", "pods_never_got_ip", "ec2_mutating_calls")
# The reference default's figures on each trace (deterministic for the trace's seed).
REFERENCE: dict[str, dict[str, Any]] = {
    "batch-churn": {
        "idle_ips_mean": 85.526,
        "idle_ips_max": 170,
        "ip_wait_seconds": {"p50": 1.0, "p90": 11.306, "p99": 62.001, "max": 140.644},
        "pods_never_got_ip": 0,
        "ec2_mutating_calls": 740,
        "pods_created": 3628,
    },
    "bursty-deploy": {
        "idle_ips_mean": 68.539,
        "idle_ips_max": 89,
        "ip_wait_seconds": {"p50": 1.0, "p90": 1.0, "p99": 13.223, "max": 15.462},
        "pods_never_got_ip": 0,
        "ec2_mutating_calls": 43,
        "pods_created": 420,
    },
    "scale-out-burst": {
        "idle_ips_mean": 58.147,
        "idle_ips_max": 211,
        "ip_wait_seconds": {"p50": 1.0, "p90": 23.097, "p99": 40.559, "max": 40.873},
        "pods_never_got_ip": 0,
        "ec2_mutating_calls": 87,
        "pods_created": 150,
    },
    "steady": {
        "idle_ips_mean": 56.291,
        "idle_ips_max": 94,
        "ip_wait_seconds": {"p50": 1.0, "p90": 1.0, "p99": 1.0, "max": 1.0},
        "pods_never_got_ip": 0,
        "ec2_mutating_calls": 642,
        "pods_created": 71,
    },
}


def _load(name: str) -> Scenario:
    return load_scenario(TRACES / f"{name}.yaml")


def test_the_four_traces_ship() -> None:
    assert sorted(p.stem for p in TRACES.glob("*.yaml")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_trace_shape(name: str) -> None:
    scenario = _load(name)
    assert (TRACES / f"{name}.yaml").read_text().startswith("# Trace: ")  # says what it models
    (run,) = scenario.run_specs()
    assert run.name == "reference-default" and run.ipamd == {} and run.autoscaler == {}
    families = {g.instance_type.split(".")[0] for g in scenario.node_groups}
    assert {"t3", "m5", "c5"} <= families
    prefix_groups = [g for g in scenario.node_groups if g.ipamd.get("ENABLE_PREFIX_DELEGATION") == "true"]
    assert prefix_groups and all(catalog.get(g.instance_type).hypervisor == "nitro" for g in prefix_groups)
    assert any(s.used_by_others for s in scenario.subnets) and scenario.control_plane_enis
    assert sum(g.min for g in scenario.node_groups) >= 3 and sum(g.max for g in scenario.node_groups) <= 13


@pytest.mark.parametrize("name", NAMES)
def test_trace_reference_default(name: str) -> None:
    scenario = _load(name)
    sim = ClusterSimulation(scenario.for_run(scenario.run_specs()[0]))
    summary = sim.run()
    assert {k: summary[k] for k in REFERENCE[name]} == REFERENCE[name]
    assert summary["errors"] == {}  # the default warm pool wastes addresses here but exhausts no subnet
    assert summary["pods_waiting_for_ip"] == 0 and summary["pods_pending_unschedulable"] == 0
    assert 3 <= summary["nodes_max"] <= 12
    assert summary["idle_ips_mean"] > 0.5 * summary["assigned_ips"]  # visibly wasteful


def test_traces_model_what_they_say() -> None:
    steady = ClusterSimulation(_load("steady"))
    summary = steady.run()
    assert summary["autoscaler"]["scale_ups"] >= 2 and summary["autoscaler"]["scale_downs"] >= 2  # day and night
    bursty = ClusterSimulation(_load("bursty-deploy"))
    bursty.run()
    assert all(d.revision >= 2 for name, d in bursty.deployments.items() if name != "coredns")
    batch = ClusterSimulation(_load("batch-churn"))
    batch.run()
    assert batch.pods_completed > 3000
    burst = ClusterSimulation(_load("scale-out-burst"))
    summary = burst.run()
    assert summary["autoscaler"]["scale_ups"] >= 1 and summary["nodes_max"] > 3
    assert summary["ip_wait_seconds"]["p90"] > 10  # pods on the new nodes wait for their first ENIs


def test_simulate_batch_churn_json_prints_the_new_metrics() -> None:
    result = CliRunner().invoke(app, ["simulate", str(TRACES / "batch-churn.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["name"] == "reference-default"
    assert {k: summary[k] for k in REFERENCE["batch-churn"]} == REFERENCE["batch-churn"]
    assert set(summary) >= {*EFFICIENCY, "throttled_calls", "subnet_used_max"}
