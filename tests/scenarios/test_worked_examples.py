"""The worked examples of the ipamd spec §4, as exact numbers, through the real engine on the simulated EC2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vpccni.cli import app
from vpccni.nodesim import NodeSimSpec, NodeSimulation, run_node_sim


def per_eni(result: dict[str, object]) -> list[int]:
    return [e["secondary_ips"] or e["prefixes"] for e in result["per_eni"]]  # type: ignore[index,attr-defined]


def run(instance_type: str, pods: int, env: dict[str, str] | None = None, **kw: object) -> dict[str, object]:
    return run_node_sim(NodeSimSpec(instance_type, pods=pods, env=env or {}, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pods", "enis", "total", "waiting"),
    [
        (0, 1, 9, 0),
        (1, 2, 18, 0),
        (9, 2, 18, 0),
        (10, 3, 27, 0),
        (18, 3, 27, 0),
        (19, 3, 27, 0),
        (27, 3, 27, 0),
        (28, 3, 27, 1),
    ],
)
def test_default_c5_large(pods: int, enis: int, total: int, waiting: int) -> None:
    r = run("c5.large", pods)
    assert (r["enis"], r["total_ips"], r["pods_without_ip"]) == (enis, total, waiting)


@pytest.mark.parametrize(
    ("pods", "enis", "total"), [(0, 1, 14), (1, 2, 28), (14, 2, 28), (15, 3, 42), (29, 4, 56), (43, 4, 56)]
)
def test_default_m5_xlarge(pods: int, enis: int, total: int) -> None:
    r = run("m5.xlarge", pods)
    assert (r["enis"], r["total_ips"]) == (enis, total)


@pytest.mark.parametrize(
    ("env", "pods", "enis", "layout"),
    [
        ({}, 0, 1, [5]),
        ({}, 1, 2, [5, 5]),
        ({}, 6, 3, [5, 5, 5]),
        ({}, 11, 3, [5, 5, 5]),
        ({"WARM_IP_TARGET": "1", "MINIMUM_IP_TARGET": "1"}, 0, 1, [1]),
        ({"WARM_IP_TARGET": "1", "MINIMUM_IP_TARGET": "1"}, 4, 1, [5]),
        ({"WARM_IP_TARGET": "1", "MINIMUM_IP_TARGET": "1"}, 5, 2, [5, 1]),
        ({"WARM_IP_TARGET": "1", "MINIMUM_IP_TARGET": "1"}, 10, 3, [5, 5, 1]),
        ({"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "8"}, 0, 2, [5, 3]),
        ({"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "8"}, 5, 2, [5, 3]),
        ({"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "8"}, 7, 2, [5, 4]),
        ({"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "8"}, 10, 3, [5, 5, 2]),
        ({"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "8"}, 15, 3, [5, 5, 5]),
    ],
)
def test_t3_medium_policies(env: dict[str, str], pods: int, enis: int, layout: list[int]) -> None:
    r = run("t3.medium", pods, env)
    assert (r["enis"], per_eni(r)) == (enis, layout)


def test_t3_medium_trace_calls() -> None:
    r = run("t3.medium", 0, {"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "8"})
    assert r["ec2_calls"]["AssignPrivateIpAddresses"] == 1  # type: ignore[index]
    assert r["ec2_calls"]["CreateNetworkInterface"] == 1  # type: ignore[index]


@pytest.mark.parametrize(("pods", "layout"), [(0, [9, 1]), (1, [9, 2]), (5, [9, 6]), (10, [9, 9, 2])])
def test_m5_large_warm_ip_10(pods: int, layout: list[int]) -> None:
    assert per_eni(run("m5.large", pods, {"WARM_IP_TARGET": "10", "WARM_ENI_TARGET": "0"})) == layout


@pytest.mark.parametrize(("pods", "total"), [(0, 10), (5, 10), (6, 11), (10, 15), (20, 25), (30, 35), (56, 56)])
def test_c5_xlarge_wip5_min10(pods: int, total: int) -> None:
    assert run("c5.xlarge", pods, {"WARM_IP_TARGET": "5", "MINIMUM_IP_TARGET": "10"})["total_ips"] == total


def test_c5_xlarge_scale_down_to_minimum() -> None:
    r = run_node_sim(
        NodeSimSpec("c5.xlarge", pods=30, release=30, env={"WARM_IP_TARGET": "5", "MINIMUM_IP_TARGET": "10"})
    )
    assert (r["enis"], r["total_ips"]) == (1, 10)


@pytest.mark.parametrize(
    ("env", "pods", "enis", "total"),
    [
        ({"WARM_ENI_TARGET": "2"}, 0, 2, 28),
        ({"WARM_ENI_TARGET": "2"}, 1, 3, 42),
        ({"WARM_ENI_TARGET": "2"}, 15, 4, 56),
        ({"MAX_ENI": "2"}, 15, 2, 28),
    ],
)
def test_c5_xlarge_other_settings(env: dict[str, str], pods: int, enis: int, total: int) -> None:
    r = run("c5.xlarge", pods, env)
    assert (r["enis"], r["total_ips"]) == (enis, total)


def test_c5_xlarge_max_eni_2_pod_29_waits() -> None:
    r = run("c5.xlarge", 29, {"MAX_ENI": "2"})
    assert (r["pods_running"], r["pods_without_ip"]) == (28, 1)


def test_minimum_ip_target_only() -> None:
    r = run("m5.large", 13, {"MINIMUM_IP_TARGET": "12"})
    assert (r["enis"], r["total_ips"], r["pods_without_ip"]) == (2, 12, 1)


def test_warm_eni_zero_oscillates() -> None:
    assert run("m5.large", 8, {"WARM_ENI_TARGET": "0"})["converged"] is True
    r = run("m5.large", 9, {"WARM_ENI_TARGET": "0"})
    assert r["converged"] is False
    calls = r["ec2_calls"]
    assert (calls["CreateNetworkInterface"], calls["DeleteNetworkInterface"]) == (26, 25)  # type: ignore[index]


def test_scale_down_default_m5_xlarge() -> None:
    r = run_node_sim(NodeSimSpec("m5.xlarge", pods=15, release=15))
    assert (r["enis"], r["total_ips"]) == (1, 14)
    assert "UnassignPrivateIpAddresses" not in r["ec2_calls"]  # type: ignore[operator]


PD = {"ENABLE_PREFIX_DELEGATION": "true"}


@pytest.mark.parametrize(
    ("env", "pods", "prefixes", "free"),
    [
        ({"WARM_PREFIX_TARGET": "1"}, 0, 1, 16),
        ({"WARM_PREFIX_TARGET": "1"}, 1, 2, 31),
        ({"WARM_PREFIX_TARGET": "1"}, 16, 2, 16),
        ({"WARM_PREFIX_TARGET": "1"}, 17, 3, 31),
        ({"WARM_PREFIX_TARGET": "1"}, 33, 4, 31),
        ({"WARM_PREFIX_TARGET": "1"}, 100, 7, 12),
        ({"WARM_PREFIX_TARGET": "1"}, 110, 7, 2),
        ({"WARM_PREFIX_TARGET": "2"}, 0, 2, 32),
        ({"WARM_PREFIX_TARGET": "2"}, 17, 4, 47),
        ({"WARM_IP_TARGET": "16"}, 17, 3, 31),
        ({"WARM_IP_TARGET": "1", "MINIMUM_IP_TARGET": "1"}, 15, 1, 1),
        ({"WARM_IP_TARGET": "1", "MINIMUM_IP_TARGET": "1"}, 40, 3, 8),
        ({"WARM_IP_TARGET": "7", "MINIMUM_IP_TARGET": "20"}, 0, 2, 32),
        ({"WARM_IP_TARGET": "7", "MINIMUM_IP_TARGET": "20"}, 25, 2, 7),
        ({"WARM_IP_TARGET": "7", "MINIMUM_IP_TARGET": "20"}, 26, 3, 22),
    ],
)
def test_prefix_delegation_m5_large(env: dict[str, str], pods: int, prefixes: int, free: int) -> None:
    r = run("m5.large", pods, {**PD, **env}, max_pods=110)
    assert (r["enis"], r["prefixes"], r["unused_ips"]) == (1, prefixes, free)


def test_prefix_two_in_one_call() -> None:
    r = run("m5.large", 0, {**PD, "WARM_PREFIX_TARGET": "2"}, max_pods=110)
    assert r["ec2_calls"]["AssignPrivateIpAddresses"] == 1  # type: ignore[index]


def test_pd_spills_to_second_eni_on_t3_medium() -> None:
    r = run("t3.medium", 65, {**PD, "WARM_PREFIX_TARGET": "1"}, max_pods=110)
    assert (r["enis"], per_eni(r), r["unused_ips"]) == (2, [5, 1], 31)


def test_issue_example_exhausted_slash28_backs_off() -> None:
    result = CliRunner().invoke(
        app, ["node-sim", "--instance-type", "m5.large", "--pods", "20", "--subnet-cidr", "10.0.0.0/28", "--json"]
    )
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert (r["total_ips"], r["pods_running"], r["pods_without_ip"]) == (9, 9, 11)
    failures = r["errors"]["InsufficientFreeAddressesInSubnet"]
    # one attempt per 120 s back-off (+ a cycle), not one per 5 s cycle: 547 cycles, 21 attempts
    assert (int(r["virtual_seconds"] / 5), failures) == (547, 21)
    assert r["ec2_calls"]["CreateNetworkInterface"] == failures


def test_determinism_same_seed_same_calls() -> None:
    spec = NodeSimSpec("m5.large", pods=12, release=5, env={"WARM_IP_TARGET": "3"}, seed=5)
    a, b = NodeSimulation(spec), NodeSimulation(spec)
    a.run()
    b.run()
    strip = [{k: v for k, v in e.items() if k not in ("requestID", "eventID")} for e in a.cloud.trail.events()]
    assert strip == [{k: v for k, v in e.items() if k not in ("requestID", "eventID")} for e in b.cloud.trail.events()]
    assert a.summary() == b.summary()
