"""The benchmark's workload: N nodes of steady pod churn, the same shape at every size.

Deployments swing ±50 % around 20 pods per node, often enough for about 1,000 pod events per node per
virtual day, over one /16 subnet per 250 nodes (at least four), so subnets stay as empty at every size.
Kept in the package (not only in `bench/`) so the pinned-summary test runs exactly the workload the
benchmark measures.
"""

from __future__ import annotations

import math
from typing import Any

DAY = 86_400.0
PODS_PER_NODE = 20  # mean pods per node; each deployment swings ±50 % around it
EVENTS_PER_NODE_DAY = 1_000
DEPLOYMENTS = 10  # the same workload shape at every size: per-node event rates stay constant
NODES_PER_SUBNET = 250  # a node holds up to ~60 addresses: a /16 stays under a quarter full


def churn_scenario(nodes: int, hours: float, seed: int = 7) -> dict[str, Any]:
    """A scenario document (validate it with `Scenario.model_validate`) for `nodes` nodes and `hours` of churn."""
    duration = hours * 3600
    subnets = max(4, math.ceil(nodes / NODES_PER_SUBNET))
    base = nodes * PODS_PER_NODE // DEPLOYMENTS
    swing = base // 2
    # pod events per scale action ≈ swing; actions needed per deployment to reach the daily event budget
    actions_per_day = max(1, int(EVENTS_PER_NODE_DAY * nodes / (DEPLOYMENTS * max(1, swing))))
    interval = DAY / actions_per_day
    actions = []
    for d in range(DEPLOYMENTS):
        t, up = 600.0 + d * interval / DEPLOYMENTS, True
        while t < duration:
            actions.append(
                {"at": round(t, 3), "scale": {"deployment": f"app-{d}", "replicas": base + (swing if up else -swing)}}
            )
            t += interval
            up = not up
    return {
        "name": f"churn-{nodes}",
        "seed": seed,
        "duration": duration,
        "sample_interval": 600,
        "vpc_cidr": "10.0.0.0/8",
        "subnets": [
            {"name": f"s{i}", "cidr": f"10.{i}.0.0/16", "az": f"us-west-2{'abc'[i % 3]}"} for i in range(subnets)
        ],
        "node_groups": [
            {
                "name": "workers",
                "instance_type": "c5.2xlarge",
                "min": nodes,
                "max": nodes,
                "subnets": [f"s{i}" for i in range(subnets)],
            }
        ],
        "daemonsets": [{"name": "aws-node"}, {"name": "kube-proxy"}],
        "deployments": [
            {"name": f"app-{d}", "replicas": base, "at": 300, "requests": {"cpu": "10m", "memory": "32Mi"}}
            for d in range(DEPLOYMENTS)
        ],
        "autoscaler": {"enabled": False},
        "actions": actions,
    }
