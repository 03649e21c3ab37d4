"""What a trail implies but never states: the ipamd settings behind an allocation pattern, and the pods.

CloudTrail shows ENIs and addresses, not pods. The warm-pool rules of ipamd (ipamd spec §3-4) tie the two:
with WARM_ENI_TARGET=k a node asks for a new ENI when fewer than k·(addresses per ENI) are free; with
WARM_IP_TARGET=w it tops up to w free addresses above MINIMUM_IP_TARGET. Each allocation or release therefore
bounds the pods the node had; the demand here is the smallest pod count consistent with every call.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from vpccni.trail.timeline import PREFIX_SIZE, InstanceRecord, Op

ALLOCATIONS = ("create", "assign")
RELEASES = ("detach", "unassign")  # a delete follows its detach; counting both would count twice


@dataclass
class Settings:
    """ipamd settings inferred for a group of instances, with the evidence in words."""

    mode: str  # whole-eni | warm-ip | prefix | unknown
    env: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    warm_eni: int = 1
    warm_ip: int = 0
    minimum_ip: int = 0


def infer_settings(instances: list[InstanceRecord], eni_size: int, churn: bool) -> Settings:
    """Whole-ENI allocations ⇒ WARM_ENI_TARGET; small top-ups ⇒ WARM_IP_TARGET (+ MINIMUM_IP_TARGET); prefixes
    ⇒ prefix delegation. `churn`: ENIs created and deleted again and again (the WARM_ENI_TARGET=0 pattern)."""
    allocations = [op for i in instances for op in i.ops if op.kind in ALLOCATIONS]
    if not allocations:
        return Settings("unknown", {}, "no address allocations in the trail: the reference defaults")
    if any(op.prefixes for op in allocations):
        return Settings(
            "prefix",
            {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"},
            "/28 prefixes were assigned: prefix delegation",
        )
    whole = [op for op in allocations if op.addresses >= eni_size]
    if len(whole) * 2 >= len(allocations):
        warm_eni = 0 if churn else 1
        why = f"{len(whole)} of {len(allocations)} allocations took a whole ENI ({eni_size} addresses)"
        if churn:
            why += " and ENIs were created and deleted over and over: WARM_ENI_TARGET=0"
        return Settings("whole-eni", {"WARM_ENI_TARGET": str(warm_eni)}, why, warm_eni=warm_eni)
    firsts, later = [], []
    for instance in instances:
        sizes = [op.addresses for op in instance.ops if op.kind in ALLOCATIONS and op.ok]
        if sizes:
            firsts.append(sizes[0])
            later.extend(sizes[1:])
    warm_ip = max(later, default=1) or 1
    minimum = int(statistics.median(firsts)) if firsts else 0
    env = {"WARM_ENI_TARGET": "0", "WARM_IP_TARGET": str(warm_ip)}
    why = f"top-ups of at most {warm_ip} addresses: WARM_IP_TARGET={warm_ip}"
    if minimum > warm_ip:
        env["MINIMUM_IP_TARGET"] = str(minimum)
        why += f"; first allocations of {minimum}: MINIMUM_IP_TARGET={minimum}"
    else:
        minimum = 0
    return Settings("warm-ip", env, why, warm_eni=0, warm_ip=warm_ip, minimum_ip=minimum)


def instance_demand(instance: InstanceRecord, settings: Settings, eni_size: int) -> list[tuple[float, int]]:
    """(time, fewest pods consistent with the node's calls so far), one point per change."""
    points: list[tuple[float, int]] = []
    demand = 0
    for op in instance.ops:
        demand = _step(demand, op, settings, eni_size)
        if not points or points[-1][1] != demand:
            points.append((op.time, demand))
    return points


def _step(demand: int, op: Op, settings: Settings, eni_size: int) -> int:
    held = op.held_before + PREFIX_SIZE * op.prefixes_before
    change = op.addresses + PREFIX_SIZE * op.prefixes
    if op.kind in ALLOCATIONS:
        if settings.mode == "whole-eni":
            k = settings.warm_eni
            implied = held - k * eni_size + 1 if k else held  # asked when free < k ENIs (k = 0: none free)
        elif settings.mode == "prefix":
            implied = held - PREFIX_SIZE + 1
        elif settings.mode == "warm-ip":
            after = held + change
            implied = after - settings.warm_ip if after > settings.minimum_ip or not op.ok else 0
        else:
            implied = 0
        return max(demand, implied, 0)
    if op.kind in RELEASES and op.ok:
        after = held - change
        if settings.mode == "whole-eni":
            bound = after - settings.warm_eni * eni_size if settings.warm_eni else after
        elif settings.mode == "prefix":
            bound = after - PREFIX_SIZE
        else:
            bound = after - settings.warm_ip
        return max(0, min(demand, bound))
    return demand


def total_demand(series: list[list[tuple[float, int]]]) -> list[tuple[float, int]]:
    """Sum per-instance step functions into one (time, pods) step function."""
    changes: list[tuple[float, int, int]] = []
    for index, points in enumerate(series):
        for when, value in points:
            changes.append((when, index, value))
    changes.sort()
    current = [0] * len(series)
    out: list[tuple[float, int]] = []
    for when, index, value in changes:
        current[index] = value
        total = sum(current)
        if out and out[-1][0] == when:
            out[-1] = (when, total)
        elif not out or out[-1][1] != total:
            out.append((when, total))
    return out


def simplify(points: list[tuple[float, int]], window: float, limit: int) -> list[tuple[float, int]]:
    """Merge changes closer than `window` seconds (the later value wins); widen the window past `limit` points."""
    while True:
        merged: list[tuple[float, int]] = []
        for when, value in points:
            if merged and when - merged[-1][0] < window:
                merged[-1] = (merged[-1][0], value)
            else:
                merged.append((when, value))
        deduped = [p for i, p in enumerate(merged) if i == 0 or p[1] != merged[i - 1][1]]
        if len(deduped) <= limit:
            return deduped
        window *= 2
