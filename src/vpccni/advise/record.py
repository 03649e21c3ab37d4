"""One simulated run, reduced to what the advisor needs: the simulator's summary plus a few series.

This is the function Dask workers execute. It takes and returns plain JSON data (a scenario document
and a seed in, a record out), so it pickles cheaply, caches as-is, and a cached record is
indistinguishable from a fresh one.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from vpccni.cluster.scenario import Scenario
from vpccni.cluster.simulation import ClusterSimulation

EXHAUSTION_ERRORS = ("InsufficientFreeAddressesInSubnet", "InsufficientCidrBlocks")


class _Sampler:
    """Called at every sample tick (the simulator's `on_sample` hook): the busiest pods-per-node per group."""

    def __init__(self) -> None:
        self.pods_per_node: dict[str, int] = {}

    def __call__(self, sim: ClusterSimulation) -> None:
        for name, group in sim.groups.items():
            ready = [n for n in group.nodes if n.ready]
            if not ready:
                continue
            pods = sum(1 for n in ready for p in n.pods.values() if not p.host_network and not p.daemonset)
            per_node = math.ceil(pods / len(ready))
            self.pods_per_node[name] = max(self.pods_per_node.get(name, 0), per_node)


def simulate(document: dict[str, Any], seed: int) -> dict[str, Any]:
    """Run one scenario variant; raises ScenarioError when the simulator rejects it."""
    scenario = Scenario.model_validate(document)
    sampler = _Sampler()
    sim = ClusterSimulation(scenario, seed=seed, on_sample=sampler)
    summary = sim.run()
    names = list(sim.subnet_ids)
    record = {
        "seed": seed,
        "summary": summary,
        "pods_per_node": {g: sampler.pods_per_node.get(g, 0) for g in sim.groups},
        "subnet_capacity": dict(sim.subnet_sizes),
        "exhausted_subnets": exhausted_subnets(sim),
        "series": {
            "t": [s["t"] for s in sim.samples],
            "subnet_used": {n: [sim.subnet_sizes[n] - s["subnet_free"][n] for s in sim.samples] for n in names},
            "idle_ips": [sum(s["idle_ips"].values()) for s in sim.samples],
        },
    }
    return dict(json.loads(json.dumps(record)))  # exactly what the cache would give back


def exhausted_subnets(sim: ClusterSimulation) -> dict[str, int]:
    """Exhaustion errors per subnet, from the run's CloudTrail log: a CreateNetworkInterface or RunInstances
    names its subnet, an Assign* names an ENI whose subnet its creation recorded."""
    subnet_names = {subnet_id: name for name, subnet_id in sim.subnet_ids.items()}
    eni_subnet: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for event in sim.cloud.trail.events():
        request = event.get("requestParameters") or {}
        response = event.get("responseElements") or {}
        created = response.get("networkInterface") if isinstance(response, dict) else None
        if isinstance(created, dict) and "networkInterfaceId" in created:
            eni_subnet[created["networkInterfaceId"]] = created.get("subnetId", "")
        code = str(event.get("errorCode", "")).split(".", 1)[-1]
        if code not in EXHAUSTION_ERRORS:
            continue
        subnet_id = request.get("subnetId") or eni_subnet.get(request.get("networkInterfaceId", ""), "")
        counts[subnet_names.get(subnet_id, "?")] += 1
    return dict(sorted(counts.items()))
