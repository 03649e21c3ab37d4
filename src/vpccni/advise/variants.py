"""Scenario variants: the user's cluster with other warm-pool settings, or with more pods.

Variants are plain scenario documents (the simulator's own schema, re-validated by it), so a variant
is exactly what `vpccni simulate` would run, and its canonical JSON is a stable cache key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from vpccni.advise.space import Candidate, without_warm_pool
from vpccni.cluster.scenario import Scenario

Document = dict[str, Any]


def advice_base(scenario: Scenario) -> Scenario:
    """The scenario as advise sees it: its `runs:` and expectations dropped (it asks its own questions)."""
    return scenario.model_copy(update={"runs": [], "expect": {}})


def with_settings(base: Scenario, picks: Mapping[str, Candidate]) -> Document:
    """`base` with each named group's warm-pool variables replaced by its candidate (others: the
    reference default); every other ipamd variable of the group is kept."""
    document = base.model_dump(mode="json")
    for group in document["node_groups"]:
        pick = picks.get(group["name"], Candidate())
        group["ipamd"] = {**without_warm_pool(group["ipamd"]), **pick.env}
    return document


def scaled(document: Document, factor: float) -> Document:
    """Every workload's pods × `factor`: deployments' replicas and their scale actions, jobs' pods per
    burst, arrivals' rate. DaemonSets, node groups and subnets are the cluster, not the workload."""
    if factor == 1.0:
        return document
    out = dict(document)
    out["deployments"] = [{**d, "replicas": _times(d["replicas"], factor)} for d in document.get("deployments", [])]
    actions = []
    for action in document.get("actions", []):
        if action.get("scale"):
            action = {**action, "scale": {**action["scale"], "replicas": _times(action["scale"]["replicas"], factor)}}
        actions.append(action)
    out["actions"] = actions
    out["jobs"] = [{**j, "pods": max(1, _times(j["pods"], factor))} for j in document["jobs"]]  # a burst has ≥ 1
    out["arrivals"] = [{**a, "rate_per_minute": a["rate_per_minute"] * factor} for a in document["arrivals"]]
    return out


def _times(count: int, factor: float) -> int:
    return int(math.floor(count * factor + 0.5))
