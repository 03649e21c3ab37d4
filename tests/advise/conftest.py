"""Test scaffolding for the advise tests.

Until the workloads branch lands, the simulator's summary lacks the efficiency metrics advise reads
(idle_ips_mean, ip_wait_seconds, ec2_mutating_calls, throttled_calls, pods_never_got_ip, subnet_used_max).
This fixture fills ONLY the missing ones, from what the summary and samples already hold, so the advise
logic can be tested now; it does nothing once the simulator provides them. Works with in-process (thread)
Dask workers only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from vpccni.cluster.simulation import ClusterSimulation

MUTATING = (
    "AssignPrivateIpAddresses",
    "AttachNetworkInterface",
    "CreateNetworkInterface",
    "DeleteNetworkInterface",
    "DetachNetworkInterface",
    "UnassignPrivateIpAddresses",
)


def _filled(sim: ClusterSimulation, summary: dict[str, Any]) -> dict[str, Any]:
    idle = [sum(s["idle_ips"].values()) for s in sim.samples] or [0]
    starts = summary["pod_start_seconds"]
    summary.setdefault("idle_ips_mean", round(sum(idle) / len(idle), 3))
    summary.setdefault("idle_ips_max", max(idle))
    summary.setdefault("ip_wait_seconds", {"p50": starts["p50"], "p90": starts["p99"], "p99": starts["p99"], "max": starts["max"]})
    summary.setdefault("pods_never_got_ip", summary["pods_waiting_for_ip"])
    summary.setdefault("ec2_mutating_calls", sum(summary["ec2_calls"].get(a, 0) for a in MUTATING))
    summary.setdefault("throttled_calls", summary["errors"].get("RequestLimitExceeded", 0))
    summary.setdefault(
        "subnet_used_max", {n: sim.subnet_sizes[n] - free for n, free in summary["subnet_free_min"].items()}
    )
    return summary


@pytest.fixture(autouse=True)
def _efficiency_metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = ClusterSimulation.summary
    if "idle_ips_mean" in original.__code__.co_consts or "idle_ips_mean" in str(original.__code__.co_consts):
        yield
        return
    monkeypatch.setattr(ClusterSimulation, "summary", lambda self: _filled(self, original(self)))
    yield
