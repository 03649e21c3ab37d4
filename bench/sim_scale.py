"""Cluster simulator at scale: N nodes and 24 virtual hours of pod churn (deployments scaling up and
down, about 1,000 pod events per node per day). Prints simulated events per second, wall time, peak
memory and the growth factor per 10× nodes. Target: 1,000 nodes × 24 h in ≤ 120 s; it never fails on time.

Each size runs in a fresh process so peak memory is that size's own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

DAY = 86_400.0
PODS_PER_NODE = 20  # mean pods per node; each deployment swings ±50 % around it
EVENTS_PER_NODE_DAY = 1_000


def scenario(nodes: int, hours: float) -> dict[str, Any]:
    duration = hours * 3600
    deployments = 10  # the same workload shape at every size: per-node event rates stay constant
    base = nodes * PODS_PER_NODE // deployments
    swing = base // 2
    # pod events per scale action ≈ swing; actions needed per deployment to reach the daily event budget
    actions_per_day = max(1, int(EVENTS_PER_NODE_DAY * nodes / (deployments * max(1, swing))))
    interval = DAY / actions_per_day
    actions = []
    for d in range(deployments):
        t, up = 600.0 + d * interval / deployments, True
        while t < duration:
            actions.append(
                {"at": round(t, 3), "scale": {"deployment": f"app-{d}", "replicas": base + (swing if up else -swing)}}
            )
            t += interval
            up = not up
    return {
        "name": f"churn-{nodes}",
        "seed": 7,
        "duration": duration,
        "sample_interval": 600,
        "vpc_cidr": "10.0.0.0/8",
        "subnets": [{"name": f"s{i}", "cidr": f"10.{i}.0.0/16", "az": f"us-west-2{'abc'[i % 3]}"} for i in range(4)],
        "node_groups": [
            {
                "name": "workers",
                "instance_type": "c5.2xlarge",
                "min": nodes,
                "max": nodes,
                "subnets": [f"s{i}" for i in range(4)],
            }
        ],
        "daemonsets": [{"name": "aws-node"}, {"name": "kube-proxy"}],
        "deployments": [
            {"name": f"app-{d}", "replicas": base, "at": 300, "requests": {"cpu": "10m", "memory": "32Mi"}}
            for d in range(deployments)
        ],
        "autoscaler": {"enabled": False},
        "actions": actions,
    }


def run_one(nodes: int, hours: float) -> dict[str, Any]:
    from vpccni.cluster import ClusterSimulation
    from vpccni.cluster.scenario import Scenario

    spec = Scenario.model_validate(scenario(nodes, hours))
    start = time.perf_counter()
    sim = ClusterSimulation(spec)
    summary = sim.run()
    wall = time.perf_counter() - start
    pod_events = sum(d.serial for d in sim.deployments.values())
    return {
        "nodes": nodes,
        "virtual_hours": hours,
        "wall_s": round(wall, 2),
        "events": summary["events"],
        "events_per_s": round(summary["events"] / wall, 1),
        "pods_created": pod_events,
        "pods_running": summary["pods_running"],
        "node_steps": summary["node_steps"],
        "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="*", default=[100, 300, 1000])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.hours)))
        return
    results = []
    for nodes in args.nodes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(nodes), "--hours", str(args.hours)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout))
        if not args.json:
            r = results[-1]
            print(
                f"{r['nodes']:>5} nodes × {r['virtual_hours']:g} h: {r['wall_s']:>7} s wall, {r['events']:>9} events "
                f"({r['events_per_s']:>8}/s), {r['pods_created']:>8} pods created, {r['node_steps']:>8} node steps, "
                f"peak {r['peak_mib']} MiB",
                flush=True,
            )
    first, last = results[0], results[-1]
    if last["nodes"] > first["nodes"]:
        scale = last["nodes"] / first["nodes"]
        per10 = (last["wall_s"] / first["wall_s"]) ** (1 / __import__("math").log10(scale))
        events_per10 = (last["events"] / first["events"]) ** (1 / __import__("math").log10(scale))
        growth = {"wall_growth_per_10x_nodes": round(per10, 2), "event_growth_per_10x_nodes": round(events_per10, 2)}
    else:
        growth = {}
    if args.json:
        print(json.dumps({"runs": results, **growth}))
    elif growth:
        print(
            f"growth per 10× nodes: wall {growth['wall_growth_per_10x_nodes']}×, "
            f"events {growth['event_growth_per_10x_nodes']}× (linear = 10×); target 1,000 nodes × 24 h ≤ 120 s"
        )


if __name__ == "__main__":
    main()
